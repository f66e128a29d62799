#!/bin/sh
# Compose preflight (one-shot, before every service that uses a secret): refuse to start the stack with a secret left
# empty, at a placeholder of .env.example, or too short; and a dashboard exposed beyond loopback without a password.
# Every problem is printed, then the job exits 1 and nothing that depends on it starts.
min=16
bad=0
refuse() { echo "preflight: $1" >&2; bad=1; }
check_secret() {  # name value
  case "$(printf '%s' "$2" | tr 'A-Z' 'a-z')" in
    "") refuse "$1 is empty: set it in .env" ;;
    change-me|changeme|change_me|password|secret|admin|emostream|redis|grafana|triton)
      refuse "$1 is a placeholder ('$2'): set a real secret in .env" ;;
    *) [ "${#2}" -ge "$min" ] || refuse "$1 has ${#2} characters: use at least $min" ;;
  esac
}
check_secret REDIS_PASSWORD "${REDIS_PASSWORD:-}"
check_secret TRITON_ADMIN_KEY "${TRITON_ADMIN_KEY:-}"
check_secret GRAFANA_ADMIN_PASSWORD "${GRAFANA_ADMIN_PASSWORD:-}"
case "${DASHBOARD_BIND:-127.0.0.1}" in
  127.*|localhost|::1|"[::1]") [ -z "${DASHBOARD_PASSWORD:-}" ] || check_secret DASHBOARD_PASSWORD "$DASHBOARD_PASSWORD" ;;
  *) check_secret DASHBOARD_PASSWORD "${DASHBOARD_PASSWORD:-}" ;;
esac
[ "$bad" -eq 0 ] && echo "preflight: secrets set"
exit "$bad"

"""emostream streaming side: settings, schemas, image fetching, batching, the Triton client and the Faust worker."""

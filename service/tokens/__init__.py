"""Token core: macaroon formats, caveats, signing keys and verification, free of I/O."""

"""The upload use cases, free of HTTP: intake (one body, one job), resumable (tus)
uploads, transfers to storage, and what the server says about itself."""

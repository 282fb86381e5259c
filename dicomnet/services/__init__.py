"""Service-class logic (PS3.4), shared by the client and the server side."""

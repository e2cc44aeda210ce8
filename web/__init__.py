"""The regional web client: server-rendered pages (Jinja2, plain forms) in five languages that talk to the
platform only through its public HTTP API with the person's token. Mounted at ``/`` of the regional
stack by the composition layer (``instance``); it imports no service and no contract."""

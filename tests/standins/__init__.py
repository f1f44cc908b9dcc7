"""Stand-ins for 1Password (the op CLI, a Connect server, the SDK client).

They implement the documented behaviour vaultgate relies on and talk to no
1Password server; tests start them on loopback or in-process.
"""

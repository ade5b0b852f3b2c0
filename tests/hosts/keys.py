"""Real public key lines for host-key tests (made by ssh-keygen; the private halves were discarded)."""

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdNSZrlGULZ6NitgMZhOTxjswBan7Ok4r9ixG79vTgr test-host"
OTHER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq/Ut8Q+R7qWDCpWKoqjQgjk84T0y0kdIgqW6GVMEh5 other"

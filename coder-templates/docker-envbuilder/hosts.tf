# Workspace hosts (egoengine:hosts; kept byte-identical in every template directory). The user
# picks the host once: a workspace's data volume (~/workspaces) lives on its host, so the choice is immutable.
# "local" is the engine next to the Coder server; the others are reached over ssh:// with the key
# and known_hosts the stack mounts into the Coder container (only the pinned host keys count).

variable "workspace_hosts" {
  description = "JSON list of remote hosts [{name, uri, gpus, description}] (set by the stack); [] for none."
  type        = string
  default     = "[]"

  validation {
    condition     = can([for h in jsondecode(var.workspace_hosts) : regex("^ssh://", h.uri)])
    error_message = "workspace_hosts must be a JSON list of hosts whose uri is ssh://user@host[:port]."
  }
}

variable "hosts_identity_file" {
  description = "Path of the hosts' SSH private key inside the Coder container (set by the stack)."
  type        = string
  default     = ""
}

variable "hosts_known_hosts_file" {
  description = "Path of the known_hosts built from the pinned host keys inside the Coder container (set by the stack)."
  type        = string
  default     = ""
}

locals {
  workspace_hosts = concat(
    [{ name = "local", uri = "", gpus = false, description = "The engine next to the Coder server." }],
    [for h in jsondecode(var.workspace_hosts) : { name = h.name, uri = h.uri, gpus = h.gpus, description = h.description }],
  )
  # null when the workspace's host was removed from egoengine:hosts (see terraform_data below).
  workspace_host = one([for h in local.workspace_hosts : h if h.name == data.coder_parameter.workspace_host.value])
  host_uri       = try(local.workspace_host.uri, "")
  on_remote_host = local.host_uri != ""
  # ssh flags for `docker system dial-stdio`: no prompt, no learned keys, only our identity.
  host_ssh_opts = local.on_remote_host ? [
    "-o", "StrictHostKeyChecking=yes",
    "-o", "UserKnownHostsFile=${var.hosts_known_hosts_file}",
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes",
    "-o", "BatchMode=yes",
    "-i", var.hosts_identity_file,
  ] : []
  # GPU hosts run Docker Engine with the NVIDIA container toolkit.
  host_gpus = try(local.workspace_host.gpus, false) ? "all" : null
}

data "coder_parameter" "workspace_host" {
  name         = "workspace_host"
  display_name = "Workspace host"
  description  = "Where the workspace runs. Its data volume (~/workspaces) stays on that host, so this cannot change after creation."
  type         = "string"
  mutable      = false
  default      = "local"
  order        = 0

  dynamic "option" {
    for_each = local.workspace_hosts
    content {
      name        = option.value.gpus ? "${option.value.name} (GPU)" : option.value.name
      value       = option.value.name
      description = option.value.description != "" ? option.value.description : null
    }
  }
}

# A workspace whose host left egoengine:hosts must not be rebuilt anywhere else (its data volume
# is on that host): its builds fail here, by name, instead of moving it.
resource "terraform_data" "workspace_host" {
  lifecycle {
    precondition {
      condition     = local.workspace_host != null
      error_message = "This workspace's host is no longer configured in egoengine:hosts; put it back, or delete the workspace with `coder delete --orphan` and clean its container and volume on that host by hand."
    }
  }
}

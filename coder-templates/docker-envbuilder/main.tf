# docker-envbuilder: builds the workspace from the repository's devcontainer with Envbuilder,
# falling back to the stack's pinned egoengine image, with a persistent ~/workspaces volume and
# the Codex auth startup step. The variables in the first section (names:
# components/template_variables.py) are set by the egoengine stack when it pushes this template;
# see README.md.

terraform {
  required_version = ">= 1.5"
  # Exact pins, known to work with the stack's Coder (v2.25.1): see the project README,
  # "Provider pins and the lock file".
  required_providers {
    coder = {
      source  = "coder/coder"
      version = "2.9.0"
    }
    docker = {
      source  = "kreuzwerker/docker"
      version = "3.6.2"
    }
    envbuilder = {
      source  = "coder/envbuilder"
      version = "1.0.0"
    }
    # Reads the optional cache-registry docker config on the provisioner host.
    local = {
      source  = "hashicorp/local"
      version = "2.5.3"
    }
  }
}

# --- Variables passed by the stack (names: components/template_variables.py) -----------------

variable "workspace_image" {
  description = "Immutable fallback image reference, repo:tag@sha256:<digest> (set by the stack); used when the repository has no usable devcontainer."
  type        = string

  validation {
    condition     = !endswith(var.workspace_image, ":latest") && can(regex("^[^@\\s]+@sha256:[0-9a-f]{64}$", var.workspace_image))
    error_message = "workspace_image must be an immutable reference repo:tag@sha256:<digest>, not a mutable tag such as :latest."
  }
}

variable "workspace_user" {
  description = "The image's user; the agent runs as this user and home is /home/<user>."
  type        = string
  default     = "joshsymonds"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]*$", var.workspace_user))
    error_message = "workspace_user must be a plain Unix user name (lowercase letters, digits, '_' or '-')."
  }
}

variable "docker_socket" {
  description = "Engine socket URI the workspace containers are created through; empty uses the provider default."
  type        = string
  default     = ""
}

variable "op_service_account_token" {
  description = "1Password service-account token handed to the workspace agent; empty disables the Codex auth step."
  type        = string
  sensitive   = true
  default     = ""
}

# Workspace networking (see README.md "Reaching Coder"): a bridged Coder is published on loopback
# only, so the workspace joins the stack network and its agent uses the Coder container's alias.
variable "workspace_network" {
  description = "Engine network the workspace joins (the stack network when Coder is bridged); empty keeps the engine's default network."
  type        = string
  default     = ""
}

variable "coder_agent_url" {
  description = "URL the agent reaches Coder at, e.g. http://coder:7080 on the stack network; empty uses the access URL."
  type        = string
  default     = ""
}

# --- Template-only variables (administrator settings; the stack leaves the defaults) ----------

variable "devcontainer_builder" {
  description = "Envbuilder image that builds the devcontainer; pinned to a release (tag and digest), never :latest."
  type        = string
  default     = "ghcr.io/coder/envbuilder:1.3.0@sha256:b34ade2fb90a8536df76e7a15c6dd8c6352d0ae835a187b13467fa0c8a71e280"

  validation {
    condition     = !can(regex(":latest(@|$)", var.devcontainer_builder)) && can(regex("(:[0-9A-Za-z_][0-9A-Za-z_.-]*|@sha256:[0-9a-f]{64})$", var.devcontainer_builder))
    error_message = "devcontainer_builder must be pinned to a version tag or digest (e.g. ghcr.io/coder/envbuilder:<version>), not :latest."
  }
}

variable "cache_repo" {
  description = "Optional registry repository used as the Envbuilder layer cache (e.g. ghcr.io/<owner>/envbuilder-cache); empty disables caching."
  type        = string
  default     = ""
}

variable "cache_repo_docker_config_path" {
  description = "Optional path, on the provisioner host, to a docker config.json with credentials for cache_repo."
  type        = string
  default     = ""
}

provider "coder" {}

provider "docker" {
  # A remote workspace host (hosts.tf) over ssh://; else the stack's socket (null: the default).
  host     = local.on_remote_host ? local.host_uri : (var.docker_socket != "" ? var.docker_socket : null)
  ssh_opts = local.host_ssh_opts
}

provider "envbuilder" {}

data "coder_provisioner" "me" {}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

# --- Reaching Coder (see README.md) ---------------------------------------------------------------
# The coder provider builds the init script from the access URL (the provisioner's CODER_AGENT_URL).
# A bridged Coder is published on loopback only, so the stack passes coder_agent_url, the Coder
# container's alias on the stack network (which the workspace joins): the agent uses that instead.
locals {
  # On a remote workspace host (hosts.tf) the agent uses the access URL: no stack network there.
  agent_url         = var.coder_agent_url != "" && !local.on_remote_host ? var.coder_agent_url : data.coder_workspace.me.access_url
  agent_init_script = replace(coder_agent.main.init_script, trimsuffix(data.coder_workspace.me.access_url, "/"), trimsuffix(local.agent_url, "/"))
}

data "coder_parameter" "repo" {
  name         = "repo"
  display_name = "Repository URL"
  description  = "Git repository cloned into ~/workspaces/<name> and built from its devcontainer (the egoengine image is used when it has none)."
  type         = "string"
  mutable      = true
  order        = 1
  default      = "https://github.com/joshsymonds/nix-config"

  validation {
    regex = "^(https?://|ssh://|git@)\\S+$"
    error = "Enter a Git repository URL (https://, ssh:// or git@host:owner/repo)."
  }
}

data "local_sensitive_file" "cache_repo_dockerconfigjson" {
  count    = var.cache_repo_docker_config_path == "" ? 0 : 1
  filename = var.cache_repo_docker_config_path
}

locals {
  home_dir       = "/home/${var.workspace_user}"
  container_name = "coder-${data.coder_workspace_owner.me.name}-${lower(data.coder_workspace.me.name)}"
  repo_url       = data.coder_parameter.repo.value

  git_author_name  = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
  git_author_email = data.coder_workspace_owner.me.email
  git_env = {
    GIT_AUTHOR_NAME     = local.git_author_name
    GIT_AUTHOR_EMAIL    = local.git_author_email
    GIT_COMMITTER_NAME  = local.git_author_name
    GIT_COMMITTER_EMAIL = local.git_author_email
  }

  # Where `ee sync` records the files it mirrors; secret-cleanup.sh deletes them at stop.
  secret_manifest_path = "${local.home_dir}/.local/state/ee/synced-files"
  ee_env = {
    EE_SYNC_MANIFEST_PATH     = local.secret_manifest_path
    WORKSPACE_SECRET_MANIFEST = local.secret_manifest_path
  }

  # The token reaches the workspace only through the agent env (never the container or builder
  # env, which `docker inspect` shows), and only when the stack set one.
  op_env = var.op_service_account_token == "" ? {} : { OP_SERVICE_ACCOUNT_TOKEN = var.op_service_account_token }

  # Envbuilder settings (the envbuilder provider wants a map). The agent URL and init script
  # point at local.agent_url (see "Reaching Coder").
  envbuilder_env = {
    ENVBUILDER_GIT_URL              = local.repo_url
    ENVBUILDER_CACHE_REPO           = var.cache_repo
    ENVBUILDER_FALLBACK_IMAGE       = var.workspace_image
    ENVBUILDER_DOCKER_CONFIG_BASE64 = try(data.local_sensitive_file.cache_repo_dockerconfigjson[0].content_base64, "")
    ENVBUILDER_PUSH_IMAGE           = var.cache_repo == "" ? "" : "true"
    # The clone lives in the persistent workspace dir, so work in progress survives a restart.
    ENVBUILDER_WORKSPACE_BASE_DIR = local.workspace_dir
    CODER_AGENT_TOKEN             = coder_agent.main.token
    CODER_AGENT_URL               = local.agent_url
    ENVBUILDER_INIT_SCRIPT        = local.agent_init_script
  }
  # The docker provider wants KEY=VALUE strings; unset options are left out.
  docker_env = [for k, v in local.envbuilder_env : "${k}=${v}" if v != ""]
}

resource "coder_agent" "main" {
  arch = data.coder_provisioner.me.arch
  os   = "linux"
  dir  = local.home_dir

  env = merge(local.git_env, local.ee_env, local.op_env)

  metadata {
    display_name = "CPU Usage"
    key          = "0_cpu_usage"
    script       = "coder stat cpu"
    interval     = 10
    timeout      = 1
  }

  metadata {
    display_name = "RAM Usage"
    key          = "1_ram_usage"
    script       = "coder stat mem"
    interval     = 10
    timeout      = 1
  }

  metadata {
    display_name = "Workspaces Disk"
    key          = "2_home_disk"
    script       = "coder stat disk --path ${local.workspace_dir}"
    interval     = 60
    timeout      = 1
  }
}

# Startup: ~/.codex/auth.json from 1Password when OP_SERVICE_ACCOUNT_TOKEN is set (never blocks
# or fails the start).
resource "coder_script" "codex_auth" {
  agent_id           = coder_agent.main.id
  display_name       = "Codex auth"
  icon               = "/emojis/1f511.png"
  run_on_start       = true
  start_blocks_login = false
  timeout            = 120
  script             = file("${path.module}/codex-auth.sh")
}

# Stop: remove what `ee sync` mirrored into the home.
resource "coder_script" "secret_cleanup" {
  agent_id     = coder_agent.main.id
  display_name = "Secret cleanup"
  icon         = "/emojis/1f9f9.png"
  run_on_stop  = true
  timeout      = 60
  script       = file("${path.module}/secret-cleanup.sh")
}

resource "docker_image" "devcontainer_builder" {
  name         = var.devcontainer_builder
  keep_locally = true
}

# --- Persistent workspace directory (see README.md "What persists") ------------------------------
# Only ~/workspaces persists. The rest of the home comes from the image at every start, so a new
# image's ~/.env.local, ~/.local/bin links and Home Manager files reach existing workspaces: a
# volume over the whole home would hide them (Docker and Podman copy an image's files into a
# volume only while it is empty, and Envbuilder never writes into a mounted path).
locals {
  workspace_dir = "${local.home_dir}/workspaces"
}

# Workspaces made before this change keep their old home volume: it moves here (its name is
# kept by ignore_changes), so its files appear under ~/workspaces rather than being deleted.
moved {
  from = docker_volume.home
  to   = docker_volume.workspaces
}

resource "docker_volume" "workspaces" {
  name = "coder-${data.coder_workspace.me.id}-workspaces"
  # The data outlives the container: never replace it because an attribute changed.
  lifecycle {
    ignore_changes = all
  }
  # Labels track orphaned volumes back to their workspace.
  labels {
    label = "coder.owner"
    value = data.coder_workspace_owner.me.name
  }
  labels {
    label = "coder.owner_id"
    value = data.coder_workspace_owner.me.id
  }
  labels {
    label = "coder.workspace_id"
    value = data.coder_workspace.me.id
  }
  # Outdated after a rename, but useful when cleaning up dangling volumes.
  labels {
    label = "coder.workspace_name_at_creation"
    value = data.coder_workspace.me.name
  }
}

# With a cache registry, reuse a previously built image when all its layers are cached.
resource "envbuilder_cached_image" "cached" {
  count         = var.cache_repo == "" ? 0 : data.coder_workspace.me.start_count
  builder_image = var.devcontainer_builder
  git_url       = local.repo_url
  cache_repo    = var.cache_repo
  extra_env     = local.envbuilder_env
}

resource "docker_container" "workspace" {
  count    = data.coder_workspace.me.start_count
  image    = var.cache_repo == "" ? docker_image.devcontainer_builder.image_id : envbuilder_cached_image.cached[0].image
  name     = local.container_name
  hostname = data.coder_workspace.me.name
  gpus     = local.host_gpus
  # No `user` here: Envbuilder must start as root to build, then drops to the image's user
  # (the devcontainer's containerUser, or the fallback image's USER) before running the agent.
  env = var.cache_repo == "" ? local.docker_env : envbuilder_cached_image.cached[0].env

  # On the stack network the agent reaches Coder by its alias (var.coder_agent_url).
  dynamic "networks_advanced" {
    for_each = var.workspace_network == "" || local.on_remote_host ? [] : [var.workspace_network]
    content {
      name = networks_advanced.value
    }
  }

  volumes {
    container_path = local.workspace_dir
    volume_name    = docker_volume.workspaces.name
    read_only      = false
  }

  labels {
    label = "coder.owner"
    value = data.coder_workspace_owner.me.name
  }
  labels {
    label = "coder.owner_id"
    value = data.coder_workspace_owner.me.id
  }
  labels {
    label = "coder.workspace_id"
    value = data.coder_workspace.me.id
  }
  labels {
    label = "coder.workspace_name"
    value = data.coder_workspace.me.name
  }
}

resource "coder_metadata" "container_info" {
  count       = data.coder_workspace.me.start_count
  resource_id = docker_container.workspace[0].id

  item {
    key   = "image"
    value = var.cache_repo == "" ? "built by ${var.devcontainer_builder} (fallback ${var.workspace_image})" : envbuilder_cached_image.cached[0].image
  }
  item {
    key   = "git url"
    value = local.repo_url
  }
  item {
    key   = "cache repo"
    value = var.cache_repo == "" ? "not configured" : var.cache_repo
  }
  item {
    key   = "workspaces"
    value = "${local.workspace_dir} (volume ${docker_volume.workspaces.name})"
  }
}

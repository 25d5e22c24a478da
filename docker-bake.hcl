# Image build graph for smstudio. `docker buildx bake` builds `default`
# (base, kernelgateway, jupyterlab); `docker buildx bake all` adds datascience and codeeditor.
# Variables default to null so the Dockerfiles' ARG defaults apply.
# Each image is two targets: `<name>-core` builds images/<name>/Dockerfile, its packages
# on its parent's core (contexts = { base = "target:<parent>-core" }); `<name>` adds the
# shared last stage, images/final: the helpers from lcc/ and ssh/ and the default user.
# So an edit to a helper script rebuilds no layer that installs packages.

variable "BASE_IMAGE" {
  # Any Debian/Ubuntu image with apt; python3 >= 3.10 is installed from it.
  default = null
}
variable "REGISTRY" {
  # Where tags point: a local name by default, an ECR repository prefix for pushes.
  default = "smstudio"
}
variable "TAG" {
  default = "dev"
}
variable "EXTRA_CA_DIR" {
  # A folder of *.crt files trusted at build and run time (TLS-intercepting proxies).
  default = "images/extra-ca"
}
variable "SSM_AGENT_URL" {
  # SSH over SSM in AWS: the SSM agent .deb from AWS, with its SHA-256. Null (skipped)
  # offline; e.g. https://s3.amazonaws.com/ec2-downloads-windows/SSMAgent/latest/debian_amd64/amazon-ssm-agent.deb
  default = null
}
variable "SSM_AGENT_SHA256" {
  default = null
}
variable "AWSCLI_URL" {
  # AWS CLI v2 (for aws ssm in the app), e.g. https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip
  default = null
}
variable "AWSCLI_SHA256" {
  default = null
}
variable "CODE_EDITOR" {
  # The codeeditor image's server: code-server (npm registry, works offline) or
  # sagemaker-code-editor (AWS's own, from conda-forge: needs internet and the three below)
  default = null
}
variable "MICROMAMBA_URL" {
  # micromamba, to install sagemaker-code-editor, with its SHA-256, e.g.
  # https://github.com/mamba-org/micromamba-releases/releases/download/<v>/micromamba-linux-64
  default = null
}
variable "MICROMAMBA_SHA256" {
  default = null
}
variable "SAGEMAKER_CODE_EDITOR_VERSION" {
  # the conda-forge version to pin, e.g. the one your SageMaker Distribution release lists
  default = null
}
variable "SOURCE_URL" {
  default = "https://github.com/smstudio/smstudio"
}
variable "REVISION" {
  default = null
}
variable "CREATED" {
  default = null
}

function "tags" {
  params = [name]
  result = ["${REGISTRY}/${name}:${TAG}"]
}

function "labels" {
  params = [name]
  result = {
    "org.opencontainers.image.title"    = "smstudio-${name}"
    "org.opencontainers.image.source"   = SOURCE_URL
    "org.opencontainers.image.revision" = REVISION
    "org.opencontainers.image.version"  = TAG
    "org.opencontainers.image.created"  = CREATED
    "io.smstudio.image"                 = name
  }
}

# The shared last stage on top of an image's core.
function "final" {
  params = [core]
  result = {
    core = "target:${core}"
    lcc  = "lcc"
    ssh  = "ssh"
  }
}

target "_common" {
  platforms = ["linux/amd64"]
  args = {
    BASE_IMAGE = BASE_IMAGE
  }
}

# Package layers only (no helpers, build user root): tagged <name>-core because the
# docker driver loads every target another one builds on into the image store anyway.
target "_core" {
  inherits = ["_common"]
}

group "default" {
  targets = ["base", "kernelgateway", "jupyterlab"]
}

group "all" {
  targets = ["base", "kernelgateway", "jupyterlab", "datascience", "codeeditor"]
}

target "base-core" {
  inherits = ["_core"]
  tags     = tags("base-core")
  context  = "images/base"
  contexts = { extra-ca = EXTRA_CA_DIR }
  args = {
    BASE_IMAGE       = BASE_IMAGE
    SSM_AGENT_URL    = SSM_AGENT_URL
    SSM_AGENT_SHA256 = SSM_AGENT_SHA256
    AWSCLI_URL       = AWSCLI_URL
    AWSCLI_SHA256    = AWSCLI_SHA256
  }
}

target "kernelgateway-core" {
  inherits = ["_core"]
  tags     = tags("kernelgateway-core")
  context  = "images/kernelgateway"
  contexts = { base = "target:base-core" }
}

target "jupyterlab-core" {
  inherits = ["_core"]
  tags     = tags("jupyterlab-core")
  context  = "images/jupyterlab"
  contexts = { base = "target:base-core" }
}

target "codeeditor-core" {
  inherits = ["_core"]
  tags     = tags("codeeditor-core")
  context  = "images/codeeditor"
  contexts = { base = "target:base-core" }
  args = {
    CODE_EDITOR                   = CODE_EDITOR
    MICROMAMBA_URL                = MICROMAMBA_URL
    MICROMAMBA_SHA256             = MICROMAMBA_SHA256
    SAGEMAKER_CODE_EDITOR_VERSION = SAGEMAKER_CODE_EDITOR_VERSION
  }
}

target "datascience-core" {
  inherits = ["_core"]
  tags     = tags("datascience-core")
  context  = "images/datascience"
  contexts = { base = "target:jupyterlab-core" }
}

target "base" {
  inherits = ["_common"]
  context  = "images/final"
  contexts = final("base-core")
  tags     = tags("base")
  labels   = labels("base")
}

target "kernelgateway" {
  inherits = ["_common"]
  context  = "images/final"
  contexts = final("kernelgateway-core")
  tags     = tags("kernelgateway")
  labels   = merge(labels("kernelgateway"), { "io.smstudio.app-types" = "KernelGateway" })
}

target "jupyterlab" {
  inherits = ["_common"]
  context  = "images/final"
  contexts = final("jupyterlab-core")
  tags     = tags("jupyterlab")
  labels   = merge(labels("jupyterlab"), { "io.smstudio.app-types" = "JupyterLab" })
}

target "datascience" {
  inherits = ["_common"]
  context  = "images/final"
  contexts = final("datascience-core")
  tags     = tags("datascience")
  labels   = merge(labels("datascience"), { "io.smstudio.app-types" = "JupyterLab" })
}

target "codeeditor" {
  inherits = ["_common"]
  context  = "images/final"
  contexts = final("codeeditor-core")
  tags     = tags("codeeditor")
  labels   = merge(labels("codeeditor"), { "io.smstudio.app-types" = "CodeEditor" })
}

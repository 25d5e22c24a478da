# Image build graph for smstudio. `docker buildx bake` builds `default`
# (base, kernelgateway, jupyterlab); `docker buildx bake all` adds datascience.
# Variables default to null so the Dockerfiles' ARG defaults apply.
# Each image's Dockerfile has a `core` stage (packages) and a final stage that adds the
# in-container helpers from lcc/ and ssh/; children build on their parent's core, so an
# edit to a helper script rebuilds no layer that installs packages.

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

target "_common" {
  platforms = ["linux/amd64"]
  args = {
    BASE_IMAGE = BASE_IMAGE
  }
  contexts = {
    extra-ca = EXTRA_CA_DIR
    lcc      = "lcc"
    ssh      = "ssh"
  }
}

group "default" {
  targets = ["base", "kernelgateway", "jupyterlab"]
}

group "all" {
  targets = ["base", "kernelgateway", "jupyterlab", "datascience"]
}

# Package layers of base, the parent of every other image (not tagged).
target "base-core" {
  inherits = ["_common"]
  context  = "images/base"
  target   = "core"
  output   = ["type=cacheonly"]
}

target "base" {
  inherits = ["_common"]
  context  = "images/base"
  target   = "base"
  tags     = tags("base")
  labels   = labels("base")
}

target "kernelgateway" {
  inherits = ["_common"]
  context  = "images/kernelgateway"
  contexts = { base = "target:base-core" }
  target   = "kernelgateway"
  tags     = tags("kernelgateway")
  labels   = merge(labels("kernelgateway"), { "io.smstudio.app-types" = "KernelGateway" })
}

target "jupyterlab-core" {
  inherits = ["_common"]
  context  = "images/jupyterlab"
  contexts = { base = "target:base-core" }
  target   = "core"
  output   = ["type=cacheonly"]
}

target "jupyterlab" {
  inherits = ["jupyterlab-core"]
  target   = "jupyterlab"
  output   = ["type=docker"]
  tags     = tags("jupyterlab")
  labels   = merge(labels("jupyterlab"), { "io.smstudio.app-types" = "JupyterLab" })
}

target "datascience" {
  inherits = ["_common"]
  context  = "images/datascience"
  contexts = { base = "target:jupyterlab-core" }
  target   = "datascience"
  tags     = tags("datascience")
  labels   = merge(labels("datascience"), { "io.smstudio.app-types" = "JupyterLab" })
}

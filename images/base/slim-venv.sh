#!/usr/bin/env bash
# Leave out of the image's Python environment what nothing needs at run time (the base
# image's Dockerfile runs this once, after pip): the bytecode caches of the packaging
# tools (written again on first use: the environment is the user's), debugpy's Windows
# attach code and C sources, the packages' own test suites (jedi's stubs of test modules
# stay), and virtualenv's seed wheels for Pythons other than the image's (an environment
# for another Python fetches its own).
set -euo pipefail
site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for tool in pip pipenv setuptools pkg_resources virtualenv distlib; do
  if [ -d "${site}/${tool}" ]; then
    find "${site}/${tool}" -name __pycache__ -type d -prune -exec rm -rf {} +
  fi
done
attach="${site}/debugpy/_vendored/pydevd/pydevd_attach_to_process"
rm -rf "${attach}/windows" "${attach}/winappdbg"
find "${site}/debugpy" \( -name '*.c' -o -name '*.pyx' -o -name '*.dll' -o -name '*.exe' \
  -o -name '*.dylib' -o -name '*.pdb' \) -delete
find "${site}" -path "${site}/jedi/third_party" -prune -o -type d -name tests -prune \
  -exec rm -rf {} +
rm -rf "${site}/tornado/test"
wanted="$(python -c 'import sys; from virtualenv.seed.wheels.embed import BUNDLE_SUPPORT as b
print(" ".join(b["%d.%d" % sys.version_info[:2]].values()))')"
for wheel in "${site}"/virtualenv/seed/wheels/embed/*.whl; do
  case " ${wanted} " in
    *" $(basename "${wheel}") "*) ;;
    *) rm -f "${wheel}" ;;
  esac
done

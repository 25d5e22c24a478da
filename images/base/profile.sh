# shellcheck shell=sh
# smstudio: login shells (JupyterLab terminals, SSH sessions) get the same environment as
# the image's default one; /etc/profile resets PATH, so put the Studio tools back first.
export VIRTUAL_ENV=/opt/smstudio/venv
case ":${PATH}:" in
  *":/opt/smstudio/venv/bin:"*) ;;
  *) export PATH="/opt/smstudio/bin:/opt/smstudio/venv/bin:${PATH}" ;;
esac

# Jupyter Server settings for a Studio JupyterLab space. Studio's proxy authenticates the
# user and forwards to port 8888 under /jupyterlab/default; the server itself has no token.
c = get_config()  # type: ignore[name-defined]  # noqa: F821

c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.base_url = "/jupyterlab/default"
c.ServerApp.open_browser = False
c.ServerApp.allow_origin = "*"
c.ServerApp.allow_remote_access = True
c.ServerApp.root_dir = "/home/sagemaker-user"
c.IdentityProvider.token = ""
c.PasswordIdentityProvider.hashed_password = ""
# Terminals open in the home.
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "-l"], "cwd": "/home/sagemaker-user"}
# Studio's idle check: AWS's activity monitor (/api/idle) and smstudio's busy marker.
c.ServerApp.jpserver_extensions = {
    "jupyter_activity_monitor_extension": True,
    "smstudio_busy": True,
}

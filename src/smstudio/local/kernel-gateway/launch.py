"""Start Jupyter Kernel Gateway from the mounted runtime, with terminals.

PYTHONHOME points this interpreter at the mounted stdlib; it is removed before any
kernel or terminal starts so they run on the image's own Python and tools, untouched.

Terminals: Studio Classic's "image terminal" runs in the KernelGateway app, next to its
kernels (SageMaker's own gateway serves it; the Studio UI reaches it through the
JupyterServer app). Jupyter Kernel Gateway has no terminals, so this adds the Jupyter
Server terminals API to it, with the gateway's own auth, CORS and error handling:
`/api/terminals` (REST) and `/terminals/websocket/<name>` (terminado's protocol), a login
shell of the image's SHELL as the app's user, in its home.
"""

# mypy: disable-error-code="misc"
# (the handlers subclass the runtime's packages, which this project does not type-check)

import os
from typing import Any

os.environ.pop("PYTHONHOME", None)

from jupyter_server.utils import url_path_join
from jupyter_server_terminals import api_handlers, handlers
from jupyter_server_terminals.terminalmanager import TerminalManager
from kernel_gateway import launch_instance
from kernel_gateway.gatewayapp import KernelGatewayApp
from kernel_gateway.mixins import CORSMixin, JSONErrorsMixin, TokenAuthorizationMixin


class TerminalRootHandler(
    TokenAuthorizationMixin, CORSMixin, JSONErrorsMixin, api_handlers.TerminalRootHandler
):
    """GET lists terminals, POST starts one."""


class TerminalHandler(
    TokenAuthorizationMixin, CORSMixin, JSONErrorsMixin, api_handlers.TerminalHandler
):
    """GET describes a terminal, DELETE ends it."""


class TermSocket(TokenAuthorizationMixin, handlers.TermSocket):
    """A terminal's websocket: ["stdin", text] in, ["stdout", text] out."""


NAME = "jupyter_server_terminals"


def _add_terminals(app: Any) -> None:
    shell = os.environ.get("SHELL") or "/bin/sh"
    manager = TerminalManager(
        shell_command=[shell, "-l"],
        extra_env={"JUPYTER_SERVER_ROOT": os.getcwd()},
        parent=app,
    )
    manager.log = app.log
    settings = app.web_app.settings
    # the handlers are Jupyter Server extension handlers: they find their app by name
    settings.update(
        {
            NAME: app,
            "terminal_manager": manager,
            "terminals_available": True,
            "server_root_dir": os.path.expanduser("~"),
        }
    )
    base, named = app.base_url, {"name": NAME}
    app.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "/api/terminals"), TerminalRootHandler, named),
            (url_path_join(base, r"/api/terminals/(\w+)"), TerminalHandler, named),
            (
                url_path_join(base, r"/terminals/websocket/(\w+)"),
                TermSocket,
                {**named, "term_manager": manager},
            ),
        ],
    )


_init_webapp = KernelGatewayApp.init_webapp


def init_webapp(self: Any) -> None:
    _init_webapp(self)
    _add_terminals(self)


KernelGatewayApp.init_webapp = init_webapp

launch_instance()

"""`python -m smstudio.sshproxy`: the name users' ~/.ssh/config files hold (written by
`smstudio ssh-config`); the proxy itself is smstudio.ssh.proxy."""

import sys

from smstudio.ssh.proxy import main

if __name__ == "__main__":
    sys.exit(main())

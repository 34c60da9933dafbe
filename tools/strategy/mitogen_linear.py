# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""The linear strategy run through Mitogen (ansible.cfg: strategy = mitogen_linear).

Mitogen keeps one Python interpreter per host for the whole run and sends it each module's code
once, where Ansible's own strategy starts a new interpreter and unpacks the module for every task
on every host. This file only makes the strategy that the `mitogen` package (requirements.txt)
installs findable from the checkout, whatever the venv's Python version.
"""

from ansible_mitogen.plugins.strategy import mitogen_linear as _mitogen_linear

StrategyModule = _mitogen_linear.StrategyModule

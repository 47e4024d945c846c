"""What the command-line front ends share: how their --help reads."""

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where there is none to show (the
    help text then says what happens without the flag)."""

    def _get_help_string(self, action):
        if action.default is None or action.default == "" or \
                action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)

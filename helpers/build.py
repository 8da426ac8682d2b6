"""Placeholder: replaced below."""
import sys
from . import lab
if __name__ == "__main__":
    if sys.argv[1] == "configure-lab":
        lab.configure()

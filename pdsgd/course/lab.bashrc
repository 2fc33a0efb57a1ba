# The shell of a JupyterLab terminal opened by `make lab` (pdsgd.course.lab): bash reads
# this instead of ~/.bashrc. It reads ~/.bashrc as bash would, then puts the course's
# environment first on PATH again, since a user's start-up file (pyenv, conda, nvm...)
# may put its own python first.
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
if [ -n "$PDSGD_LAB_BIN" ]; then
    PATH="$PDSGD_LAB_BIN:$PATH"
    export PATH
fi

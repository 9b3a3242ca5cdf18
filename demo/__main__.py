"""`python -m demo --workdir DIR`: starts the web demo (app.py)."""

from demo import app

if __name__ == "__main__":
  app.main()

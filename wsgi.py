"""The WSGI entry point: gunicorn -c gunicorn.conf.py wsgi:app"""

from paimon import create_app

app = create_app()

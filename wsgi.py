"""The WSGI entry point: gunicorn -c gunicorn.conf.py wsgi:app"""

from paimon.server.wsgi import application

app = application()

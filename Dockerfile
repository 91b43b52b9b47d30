FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# gettext compiles the Persian catalogue; pango is what WeasyPrint needs for the printable report.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gettext libpango-1.0-0 libpangoft2-1.0-0 curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir . \
 && python manage.py compilemessages --ignore=.venv -v 0 \
 && DEBUG=1 python manage.py collectstatic --noinput -v 0
RUN useradd --create-home --uid 1000 trials && mkdir -p /app/media /app/beat && chown -R trials /app
USER trials
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]

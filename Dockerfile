# One image for the worker, beat and the CLI.
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
COPY config ./config
RUN python -m pip install --upgrade pip && pip install -e .
RUN useradd --create-home wirewatch && mkdir -p /data && chown wirewatch /data
USER wirewatch
ENV WIREWATCH_DATA_DIR=/data
ENTRYPOINT ["wirewatch"]

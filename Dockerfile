# One image for every workorders process: `workorders api`, `workorders worker`,
# `workorders nms-sim` (see docker-compose.temporal.yml). Configured only through
# WORKORDERS_* environment variables (workorders/config.py).
#
#   docker build -t workorders:0.1.0 .
#   docker run --rm workorders:0.1.0 --help

# Build: install the package (not its dev extras) into a virtualenv of its own. The
# sources stay in this stage; only the virtualenv goes into the image.
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
COPY . /src
RUN /opt/venv/bin/pip install --no-cache-dir /src

# Run: the virtualenv, a user without privileges and a folder for the data.
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 workorders \
    && useradd --system --uid 10001 --gid workorders --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin workorders \
    && mkdir -p /app/data \
    && chown -R workorders:workorders /app

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
# WORKORDERS_DATA_DIR defaults to ./data: /app/data, which the user may write.
WORKDIR /app

# The API and the NMS simulator (WORKORDERS_API_PORT, WORKORDERS_NMS_SIM_PORT).
EXPOSE 8000 8700

# Python turns SIGINT into KeyboardInterrupt; as PID 1 it would ignore SIGTERM.
STOPSIGNAL SIGINT

ENTRYPOINT ["workorders"]
CMD ["--help"]

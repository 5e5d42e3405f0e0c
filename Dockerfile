# The rApp image the Helm chart (charts/rapp) runs: non-root (65532), and fit for a read-only root
# filesystem. Everything the rApp writes goes to the chart's volumes: /var/lib/rapp (journal,
# DBOS database, Nephio work tree) and /tmp (an emptyDir; HOME and matplotlib's cache point there).
# Baked in: the policy set at /etc/rapp/policies (the chart mounts operators' Rego over it when it
# is given any) and the shipped models at /app/models (the model registry's default root,
# `models` relative to the working directory /app).
FROM python:3.11-slim

# git: the Nephio git writer shells out to it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY rapp ./rapp
COPY simulators ./simulators
# Bytecode is compiled at install time: the root filesystem is read-only at run time.
RUN pip install . && python -m compileall -q rapp simulators

COPY --chown=0:0 policies /etc/rapp/policies
COPY --chown=0:0 models /app/models

# The user has no passwd entry: HOME on the writable /tmp keeps git and matplotlib from looking
# for (or writing to) a home directory on the read-only root filesystem.
ENV HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    RAPP_POLICY__DIRECTORY=/etc/rapp/policies \
    RAPP_MODELS__ROOT=/app/models \
    RAPP_API__HOST=0.0.0.0

USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["rapp"]
CMD ["serve"]

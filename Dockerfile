# The rApp image the Helm chart runs. Policies are baked in at /etc/rapp/policies; the chart
# mounts operators' Rego over them when it is given any.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rapp ./rapp
COPY simulators ./simulators
RUN pip install --no-cache-dir .
COPY policies /etc/rapp/policies
ENV RAPP_POLICY__DIRECTORY=/etc/rapp/policies
USER 65532:65532
ENTRYPOINT ["rapp"]
CMD ["serve"]

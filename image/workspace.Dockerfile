# syntax=docker/dockerfile:1
# digitalhub-airflow-workspace: the suite's image (image/Dockerfile) plus JupyterLab, the
# JupyterHub single-user server and VS Code in the browser (code-server behind
# jupyter-vscode-proxy): the singleuser image of helm-values/workspaces/jupyterhub.yaml.
#
# Build the suite's image first, then this one FROM it, from the repository root (the only
# file read from the context is requirements.lock, bind-mounted for one step):
#   docker build -f image/Dockerfile -t "$DHUB_IMAGE" .
#   docker build -f image/workspace.Dockerfile --build-arg DHUB_IMAGE="$DHUB_IMAGE" \
#     -t "${DHUB_WORKSPACE_IMAGE:-digitalhub-airflow-workspace:0.1.0}" .
ARG DHUB_IMAGE=digitalhub-airflow:0.1.0
FROM ${DHUB_IMAGE}
ARG DHUB_VERSION=0.1.0
# The JupyterHub single-user server speaks the hub's API: same major version as the hub of
# the chart release the values target (z2jh 4.4.0 runs JupyterHub 5.5.0).
ARG JUPYTERHUB_VERSION=5.5.0
ARG JUPYTERLAB_VERSION=4.6.6
ARG JUPYTER_SERVER_PROXY_VERSION=4.6.0
ARG JUPYTER_VSCODE_PROXY_VERSION=0.7
# code-server: the standalone release (it bundles its own Node.js), from the project's
# GitHub releases; CODE_SERVER_SHA256 (the release's checksum of the archive) is verified
# when given.
ARG CODE_SERVER_VERSION=4.138.0
ARG CODE_SERVER_SHA256=
ARG TARGETARCH=amd64
LABEL org.opencontainers.image.title="digitalhub-airflow-workspace" \
      org.opencontainers.image.version="${DHUB_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.description="DigitalHub workspace: the suite's image with JupyterLab and code-server"

USER 0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL -o /tmp/code-server.tar.gz \
      "https://github.com/coder/code-server/releases/download/v${CODE_SERVER_VERSION}/code-server-${CODE_SERVER_VERSION}-linux-${TARGETARCH}.tar.gz" \
    && if [ -n "${CODE_SERVER_SHA256}" ]; then \
         echo "${CODE_SERVER_SHA256}  /tmp/code-server.tar.gz" | sha256sum -c -; fi \
    && mkdir -p /opt/code-server \
    && tar -xzf /tmp/code-server.tar.gz -C /opt/code-server --strip-components=1 \
    && ln -s /opt/code-server/bin/code-server /usr/local/bin/code-server \
    && rm /tmp/code-server.tar.gz \
    && code-server --version

# Jupyter on top of the suite, resolved with the suite's lock as constraints, the suite and
# Airflow named again with their pins: pip may add packages the lock does not know (the
# Jupyter stack) but cannot move any package the suite was tested with; `pip check` fails
# the build on a conflict. Installed as the image's user, where the suite is (~/.local).
USER 50000
RUN --mount=type=bind,source=requirements.lock,target=/tmp/constraints.txt \
    python -m pip install --no-cache-dir --constraint /tmp/constraints.txt \
      "apache-airflow==${AIRFLOW_VERSION}" "digitalhub-airflow==${DHUB_VERSION}" \
      "jupyterlab==${JUPYTERLAB_VERSION}" "jupyterhub==${JUPYTERHUB_VERSION}" \
      "jupyter-server-proxy==${JUPYTER_SERVER_PROXY_VERSION}" \
      "jupyter-vscode-proxy==${JUPYTER_VSCODE_PROXY_VERSION}" \
    && python -m pip check \
    && jupyter server extension list 2>&1 | grep -q jupyter_server_proxy \
    && command -v jupyterhub-singleuser \
    && dhub --help > /dev/null

# KubeSpawner gives the command (`jupyterhub-singleuser`) as the container's args, and the
# Airflow entrypoint would turn it into `airflow jupyterhub-singleuser`: keep dumb-init as
# PID 1 only. The Airflow components keep using image/Dockerfile's image.
WORKDIR /home/airflow
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
CMD ["jupyterhub-singleuser"]

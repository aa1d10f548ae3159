# token-service: slim runtime image, non-root, healthchecked; every dependency
# from requirements.lock, checked against its hashes.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements.lock
COPY pyproject.toml README.md ./
COPY config ./config
COPY service ./service
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels/project .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TOKEN_SERVICE_SERVER_HOST=0.0.0.0 TOKEN_SERVICE_SERVER_PORT=8080
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --no-deps /wheels/*.whl /wheels/project/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --no-create-home tokens
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["token-service"]
CMD ["serve"]

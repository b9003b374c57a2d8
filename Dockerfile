# The kgitops controller image. These build machines cannot build or push images (no registry
# access): build it where you can, then pass it to `kgitops install --image <ref>`.
#
#   npm pack                                    # kruise-gitops-<version>.tgz (runs npm run build)
#   docker build -t registry.example.com/kgitops:0.1.0 .
FROM node:20-bookworm-slim
# git fetches the repos; bubblewrap is the sandbox every commit's code runs in.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/kgitops
COPY kruise-gitops-*.tgz /tmp/
RUN npm install --omit=dev --no-audit --no-fund /tmp/kruise-gitops-*.tgz cdk8s constructs cdk8s-plus-33 \
 && rm /tmp/kruise-gitops-*.tgz
USER 10001:10001
ENV XDG_CACHE_HOME=/var/cache/kgitops
ENTRYPOINT ["/opt/kgitops/node_modules/.bin/kgitops"]
CMD ["controller"]

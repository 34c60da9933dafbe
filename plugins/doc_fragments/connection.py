# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Connection options shared by every vectorops.milvus module."""

from __future__ import annotations


class ModuleDocFragment:
    """Documentation fragment: vectorops.milvus.connection."""

    DOCUMENTATION = r"""
options:
  uri:
    description:
      - URI of one Milvus proxy, for example C(http://10.0.0.11:19530) or C(https://milvus.example:19530).
      - Mutually exclusive with O(hosts). When neither is set, C(http://localhost:19530) is used.
      - Falls back to the E(MILVUS_URI) environment variable.
    type: str
  hosts:
    description:
      - Proxies to try in turn, each C(host) or C(host:port) (port 19530 when omitted) or a full URI.
      - The first one that answers is used, so one dead proxy is not an outage.
      - Mutually exclusive with O(uri).
      - An empty list, or an empty entry, fails (it never falls back to C(localhost)).
    type: list
    elements: str
  user:
    description:
      - User name when authentication is enabled. Requires O(password).
      - Falls back to the E(MILVUS_USER) environment variable.
    type: str
  password:
    description:
      - Password of O(user). Never logged.
      - Falls back to the E(MILVUS_PASSWORD) environment variable.
    type: str
  token:
    description:
      - API token (C(user:password) or a key) instead of O(user)/O(password). Never logged.
      - Falls back to the E(MILVUS_TOKEN) environment variable.
    type: str
  db_name:
    description:
      - Database to work in.
    type: str
    default: default
  secure:
    description:
      - Use TLS. Implied by an C(https://) URI.
    type: bool
    default: false
  ca_cert:
    description:
      - CA certificate (PEM) that signed the server certificate, for one-way TLS.
      - With O(client_cert) and O(client_key), the CA for mutual TLS.
    type: path
  client_cert:
    description:
      - Client certificate (PEM) for mutual TLS. Requires O(client_key) and O(ca_cert).
    type: path
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
  server_name:
    description:
      - Name to expect in the server certificate when it differs from the host name.
    type: str
  timeout:
    description:
      - Seconds allowed for connecting and for each request. Retries of transient failures
        (unavailable, rate limited) stay within three times this value.
    type: float
    default: 10.0
requirements:
  - pymilvus >= 2.3 (tested with 3.0.2) on the controller
notes:
  - Tested against Milvus 2.3.5.
  - The collection's action plugin runs the module on the controller with the controller's Python
    (C(ansible_playbook_python)), whatever host the task targets; nothing is needed on that host.
  - Options left out come from the inventory. O(hosts) are the proxies of the C(milvus_proxy) group
    (C(cluster_host_ip), else C(ansible_host), at C(milvus_ops_proxy_port), else 19530), the
    targeted host's own proxy first (only that one for M(vectorops.milvus.milvus_facts)) unless
    O(uri) or O(hosts) is given. O(user) and O(password) are C(milvus_ops_user) (root) and
    C(milvus_root_password) unless O(user), O(password) or O(token) is given; without
    C(milvus_root_password) the task fails naming it. O(secure), O(ca_cert), O(client_cert),
    O(client_key) and O(server_name) come from C(milvus_tls_enabled), C(milvus_tls_ca_cert),
    C(milvus_tls_client_cert), C(milvus_tls_client_key) and C(milvus_tls_server_name) when defined.
"""

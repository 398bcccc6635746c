"""TLS for the APIs: a server certificate for HTTPS and gRPC over TLS, and with a client CA, mutual TLS.

`gateway.tls_cert_file` and `gateway.tls_key_file` (PEM) turn TLS on for both APIs;
`gateway.tls_client_ca_file` also makes both require a client certificate signed by that CA.
The admin listener (metrics, health) stays plain HTTP on its own address, for probes and scrapers.
"""

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from cluster.config import ConfigError


@dataclass(frozen=True)
class ServerTls:
    cert_file: str
    key_file: str
    client_ca_file: str = ""

    @classmethod
    def from_config(cls, cert_file: str, key_file: str, client_ca_file: str) -> "ServerTls | None":
        return cls(cert_file, key_file, client_ca_file) if cert_file else None

    def grpc_credentials(self) -> grpc.ServerCredentials:
        ca = Path(self.client_ca_file).read_bytes() if self.client_ca_file else None
        return grpc.ssl_server_credentials([(Path(self.key_file).read_bytes(), Path(self.cert_file).read_bytes())],
                                           root_certificates=ca, require_client_auth=ca is not None)

    def uvicorn_options(self) -> dict:
        options = {"ssl_certfile": self.cert_file, "ssl_keyfile": self.key_file}
        if self.client_ca_file:
            options.update(ssl_ca_certs=self.client_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
        return options

    def check(self) -> None:
        """Loads the files once, so a wrong path, key or certificate stops the start with a clear message."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"gateway.tls_cert_file / tls_key_file: cannot load the certificate and its key: "
                             f"{exc}") from None
        if self.client_ca_file:
            try:
                context.load_verify_locations(self.client_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"gateway.tls_client_ca_file: cannot load the CA certificates: {exc}") from None

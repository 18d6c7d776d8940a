"""Where a model repository lives: a directory, or a prefix in S3, GCS or Azure Blob storage.

One parser for every URL form Triton itself accepts for ``--model-repository``, so that what
`tritonctl push` writes and what Triton (or the chart) reads are spelled the same way:

    /mnt/models, file:///mnt/models           a directory (NFS, a PVC, a local disk)
    s3://bucket/path                          AWS S3 (region from AWS_DEFAULT_REGION / the profile)
    s3://host:port/bucket/path                an S3-compatible store over plain HTTP (Triton's form)
    s3://https://host:port/bucket/path        the same over HTTPS
    gs://bucket/path                          Google Cloud Storage
    as://account/container/path               Azure Blob Storage (Triton's form)

Credentials never come from a flag (flags end up in shell history): only from the environment,
the clouds' standard chains (profile files, IRSA web identity, instance metadata, Workload
Identity, Application Default Credentials) or a named AWS profile. Each location can say where
its credentials come from, so an access error names the bucket, the endpoint and that source.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tritonctl.errors import StorageError

SCHEMES = ("s3", "gs", "as")
# Triton's own S3 URL pattern (core/src/filesystem/implementations/s3.h): bucket names are
# lower-case, path segments letters, digits and ._- only. Anything else Triton cannot read back.
_S3_HOST_PORT = re.compile(r"^(https?://)?([0-9A-Za-z\-.]+):([0-9]+)$")
_S3_BUCKET = re.compile(r"^[0-9a-z.\-]{3,63}$")
_PATH_SEGMENT = re.compile(r"^[0-9A-Za-z.\-_]+$")


@dataclass(frozen=True)
class Location:
    scheme: str  # "file", "s3", "gs" or "as"
    bucket: str  # bucket (s3, gs) or container (as); "" for a directory
    path: str  # prefix inside the bucket without leading/trailing "/"; the absolute path for "file"
    endpoint_url: str | None = None  # S3-compatible endpoint, e.g. http://127.0.0.1:9000
    account: str | None = None  # Azure storage account
    profile: str | None = None  # AWS named profile
    original: str = ""

    # -- names --------------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def bucket_kind(self) -> str:
        """What the provider calls `bucket`, for messages: Azure's are containers."""
        return "container" if self.scheme == "as" else "bucket"

    @property
    def root(self) -> str:
        """The repository root as the fsspec filesystem names it (no scheme)."""
        if self.is_local:
            return self.path
        return "/".join(p for p in (self.bucket, self.path) if p)

    def join(self, rel: str) -> str:
        return f"{self.root.rstrip('/')}/{rel}" if rel else self.root

    @property
    def triton_url(self) -> str:
        """What to give `tritonserver --model-repository` (and the chart's modelRepository)."""
        if self.is_local:
            return self.path
        if self.scheme == "as":
            return f"as://{self.account}/{self.root}"
        if self.scheme == "s3" and self.endpoint_url:
            u = urlparse(self.endpoint_url)
            port = u.port or (443 if u.scheme == "https" else 80)
            tls = "https://" if u.scheme == "https" else ""
            return f"s3://{tls}{u.hostname}:{port}/{self.root}"
        return f"{self.scheme}://{self.root}"

    def __str__(self) -> str:
        return self.triton_url

    # -- access ---------------------------------------------------------------------------------
    def filesystem(self):
        """The fsspec filesystem for this location (imported here: `--help` stays instant)."""
        if self.is_local:
            from fsspec.implementations.local import LocalFileSystem

            return LocalFileSystem()
        try:
            if self.scheme == "s3":
                import s3fs

                _quiet_aws_logs()

                fs = s3fs.S3FileSystem(
                    profile=self.profile,
                    endpoint_url=self.endpoint_url,
                    skip_instance_cache=True,
                    # an unreachable endpoint fails in seconds, not after minutes of retries
                    config_kwargs={"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2, "mode": "standard"}},
                )
                fs.retries = 2  # s3fs's own retry loop around botocore's (a class attribute, 5 by default)
                return fs
            if self.scheme == "gs":
                import gcsfs

                return gcsfs.GCSFileSystem(skip_instance_cache=True)
            import adlfs

            return adlfs.AzureBlobFileSystem(account_name=self.account, anon=False, skip_instance_cache=True)
        except ImportError as exc:
            raise StorageError(
                f"{self.original}: the {self.scheme}:// filesystem is not installed ({exc.name}); "
                "install tritonctl's storage extra: pip install 'tritonctl[storage]'"
            ) from None

    def credential_source(self) -> str:
        """Where this location's credentials come from, in words (never the secret itself)."""
        if self.is_local:
            return "the file system permissions of this user"
        if self.scheme == "s3":
            return _aws_credential_source(self.profile)
        if self.scheme == "gs":
            if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
                return f"the service-account key in GOOGLE_APPLICATION_CREDENTIALS ({os.environ['GOOGLE_APPLICATION_CREDENTIALS']})"
            return "Google Application Default Credentials (gcloud auth application-default login, or Workload Identity on GKE)"
        for var, what in (
            ("AZURE_STORAGE_CONNECTION_STRING", "the connection string in AZURE_STORAGE_CONNECTION_STRING"),
            ("AZURE_STORAGE_KEY", "the account key in AZURE_STORAGE_KEY"),
            ("AZURE_STORAGE_ACCOUNT_KEY", "the account key in AZURE_STORAGE_ACCOUNT_KEY"),
        ):
            if os.environ.get(var):
                return what
        return "Azure DefaultAzureCredential (AZURE_CLIENT_ID/AZURE_TENANT_ID/..., az login, or workload identity)"

    def describe(self) -> str:
        """'bucket 'models' at http://127.0.0.1:9000, credentials from ...' for messages."""
        if self.is_local:
            return f"directory {self.path}"
        where = {
            "s3": self.endpoint_url or "AWS S3" + (f" (region {_aws_region(self.profile)})" if _aws_region(self.profile) else ""),
            "gs": "Google Cloud Storage",
            "as": f"Azure account '{self.account}'",
        }[self.scheme]
        return f"{self.bucket_kind} '{self.bucket}' at {where}, credentials from {self.credential_source()}"


def parse(dest: str, endpoint_url: str | None = None, profile: str | None = None) -> Location:
    """Parse DEST (any form in this module's docstring); errors name the part that is wrong."""
    text = str(dest).strip()
    if not text:
        raise StorageError("the destination is empty; give a directory or an s3://, gs:// or as:// URL")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme == "file":
        if endpoint_url:
            raise StorageError(f"--endpoint-url is for s3:// destinations, not the directory '{text}'")
        path = rest if scheme == "file" else text
        return Location("file", "", str(Path(path).expanduser().resolve()), original=text)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise StorageError(
            f"'{text}': unknown scheme '{scheme}://'; use a directory, s3://, gs:// or as:// "
            "(Triton reads exactly these)"
        )
    if profile and scheme != "s3":
        raise StorageError(f"--profile names an AWS profile; '{text}' is not an s3:// URL")
    if endpoint_url and scheme != "s3":
        raise StorageError(f"--endpoint-url is for S3-compatible stores; '{text}' is not an s3:// URL")
    parts = [p for p in rest.split("/") if p]
    if scheme == "s3":
        return _parse_s3(text, rest, endpoint_url, profile)
    if scheme == "as":
        if len(parts) < 2:
            raise StorageError(f"'{text}': Azure URLs are as://ACCOUNT/CONTAINER[/PATH] (Triton's form)")
        account, container, path = parts[0], parts[1], "/".join(parts[2:])
        _check_segments(text, path)
        return Location("as", container, path, account=account, original=text)
    if not parts:
        raise StorageError(f"'{text}': no bucket; write gs://BUCKET[/PATH]")
    _check_segments(text, "/".join(parts[1:]))
    return Location("gs", parts[0], "/".join(parts[1:]), original=text)


def _parse_s3(text: str, rest: str, endpoint_url: str | None, profile: str | None) -> Location:
    tls = ""
    for prefix in ("https://", "http://"):
        if rest.startswith(prefix):
            tls, rest = prefix, rest[len(prefix):]
    parts = [p for p in rest.split("/") if p]
    if parts and (m := _S3_HOST_PORT.match(tls + parts[0])):
        url_endpoint = f"{'https' if m.group(1) == 'https://' else 'http'}://{m.group(2)}:{m.group(3)}"
        if endpoint_url and endpoint_url.rstrip("/") != url_endpoint:
            raise StorageError(
                f"'{text}' names the endpoint {url_endpoint}, --endpoint-url says {endpoint_url}; give one of them"
            )
        endpoint_url, parts = url_endpoint, parts[1:]
    elif tls:
        raise StorageError(f"'{text}': after s3://{tls} Triton expects HOST:PORT/BUCKET/PATH")
    if not parts:
        raise StorageError(f"'{text}': no bucket; write s3://BUCKET/PATH or s3://HOST:PORT/BUCKET/PATH")
    bucket, path = parts[0], "/".join(parts[1:])
    if not _S3_BUCKET.match(bucket):
        raise StorageError(
            f"'{text}': bucket '{bucket}' is not a name Triton's S3 loader accepts (3-63 of a-z 0-9 . -)"
        )
    _check_segments(text, path)
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint_url:
        u = urlparse(endpoint_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise StorageError(f"--endpoint-url '{endpoint_url}' is not an http:// or https:// URL")
        endpoint_url = f"{u.scheme}://{u.hostname}" + (f":{u.port}" if u.port else "")
    return Location("s3", bucket, path, endpoint_url=endpoint_url, profile=profile, original=text)


def _check_segments(text: str, path: str) -> None:
    for seg in path.split("/") if path else []:
        if not _PATH_SEGMENT.match(seg):
            raise StorageError(
                f"'{text}': path segment '{seg}' has characters Triton's cloud loaders do not accept; "
                "use letters, digits and . - _ only"
            )


def _quiet_aws_logs() -> None:
    import logging

    for name in ("botocore", "aiobotocore"):  # "Found credentials in ..." is ours to say (describe())
        logging.getLogger(name).setLevel(logging.WARNING)


def _aws_session(profile: str | None):
    import botocore.session

    _quiet_aws_logs()
    try:
        return botocore.session.Session(profile=profile)
    except Exception as exc:  # botocore raises ProfileNotFound and config parse errors
        raise StorageError(f"AWS profile '{profile}': {exc}; list profiles with `aws configure list-profiles`") from None


def _aws_region(profile: str | None) -> str | None:
    try:
        return _aws_session(profile).get_config_variable("region")
    except StorageError:
        return None


# botocore's names for its credential providers, in words a user can act on.
_AWS_METHODS = {
    "env": "the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "config-file": "the AWS config file (~/.aws/config)",
    "assume-role": "an assumed role from the AWS config",
    "assume-role-with-web-identity": "a web identity token (IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE)",
    "sso": "AWS SSO (aws sso login)",
    "container-role": "the container credentials endpoint (EKS Pod Identity / ECS task role)",
    "iam-role": "the EC2 instance metadata role",
}


def _aws_credential_source(profile: str | None) -> str:
    session = _aws_session(profile)
    try:
        creds = session.get_credentials()
    except Exception as exc:
        return f"no usable AWS credentials ({exc})"
    if creds is None:
        return (
            "nowhere: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE or --profile, or run where IRSA or an instance role applies)"
        )
    what = _AWS_METHODS.get(creds.method, creds.method)
    chosen = profile or os.environ.get("AWS_PROFILE")
    return f"{what}" + (f", profile '{chosen}'" if chosen and creds.method != "env" else "")

"""Large results as links: a file a step produced (a CSV, a chart, an HTML table) is
uploaded to Blob Storage and shared as a time-limited, read-only link, instead of
being mailed or posted whole.

* `upload.upload_attachment(ctx, attachment)`: the one call actions use
  (`blob.upload`, `email.send` for attachments over the mail limit, and any action
  whose output is too large for where it goes).
* `mail_links.link_oversized_attachments`: what `email.send` does with attachments
  that would make a message too large for Azure Communication Services.

Where files go, from the app settings (`upload.BlobTarget`):

* the Functions host's storage, `AzureWebJobsStorage`: as a connection string with an
  account key (Azurite locally, `UseDevelopmentStorage=true` included) the link is a
  service SAS on that one blob signed with the key; as `AzureWebJobsStorage__blob
  ServiceUri` with the managed identity (Azure) it is a user-delegation SAS, signed
  with a key the identity asks Blob Storage for (`get_user_delegation_key`), so no
  account key is ever used. Container: `RESULTS_CONTAINER` (default `flow-results`);
* without blob storage (the embedded default, the CLI): the file is written under
  the outbox folder and the link is a `file://` URL, labelled as a local file.
"""

from .upload import (
    DEFAULT_EXPIRES_SECONDS,
    MAX_EXPIRES_SECONDS,
    BlobLink,
    BlobTarget,
    BlobUploadFailed,
    blob_target,
    parse_expiry,
    upload_attachment,
)

__all__ = ["DEFAULT_EXPIRES_SECONDS", "MAX_EXPIRES_SECONDS", "BlobLink", "BlobTarget",
           "BlobUploadFailed", "blob_target", "parse_expiry", "upload_attachment"]

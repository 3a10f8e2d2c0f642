"""The MailPartner client: everything that speaks the API, and nothing of Airflow's task machinery.

One module a job, in the order a call goes through them:

- ``commands``: the API's codes (:class:`~.commands.ApiCode`), its commands and one :class:`~.commands.Call`;
- ``pacing``: spacing requests under the account's limit;
- ``exchange``: one HTTP round trip, the answer spooled or the transport failure described;
- ``answer_checks``: whether the HTTP status and the envelope can be trusted, and the errors that say why not;
- ``retry``: the retry policy as a value, and the one loop that applies it;
- ``formats``, ``json_fields``, ``json_list``, ``xml_list``: reading the two wire formats;
- ``list_reading``: a list answer read entry by entry and checked whole (count, repeated ids);
- ``redaction``: keeping the API key out of every text;
- ``api_client``: :class:`~.api_client.MailPartnerClient`, which ties them together.

The hook (``hooks.mailpartner``) builds one client per connection; tests and the sandbox may use
these modules directly.
"""

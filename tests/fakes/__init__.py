"""Loopback fakes of the providers: small aiohttp (or aiosmtpd) servers on 127.0.0.1 that the real
client libraries talk to, recording what they received and answering as the provider would."""

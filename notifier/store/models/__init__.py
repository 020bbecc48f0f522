"""Every table of notifier, in one package: importing it gives Alembic (and `Base.metadata`) all of them."""

from notifier.store.models.accounts import AdminSession, User
from notifier.store.models.apology import ApologyCounter, ApologySlip
from notifier.store.models.base import AwareDateTime, Base, BigId, affected, table_of
from notifier.store.models.callbacks import CallbackEvent
from notifier.store.models.channels import ChannelReceipt, InboundMessage, ProviderToken
from notifier.store.models.chat import ChatFormState, ChatLink, ChatPreference, Feedback, LookupFailure
from notifier.store.models.core import (
    Agency,
    ApiKey,
    AuditEntry,
    Contact,
    DeliveryAttempt,
    Dossier,
    DossierEvent,
    Notification,
    Officer,
    Procedure,
    ScanState,
    Template,
)
from notifier.store.models.limits import LoginFailure, RateBucket
from notifier.store.models.privacy import ConsentRecord, PrivacyRequest
from notifier.store.models.public import DossierLinkCode, PublicLinkRevocation
from notifier.store.models.spend import SpendHold, SpendMonth
from notifier.store.models.steps import DossierStep
from notifier.store.models.zalo import OfficerLinkCode, ZaloFollower, ZaloInboxEvent

__all__ = [
    "AdminSession",
    "Agency",
    "ApiKey",
    "ApologyCounter",
    "ApologySlip",
    "AuditEntry",
    "AwareDateTime",
    "Base",
    "BigId",
    "CallbackEvent",
    "ChannelReceipt",
    "ChatFormState",
    "ChatLink",
    "ChatPreference",
    "ConsentRecord",
    "Contact",
    "DeliveryAttempt",
    "Dossier",
    "DossierEvent",
    "DossierLinkCode",
    "DossierStep",
    "Feedback",
    "InboundMessage",
    "LoginFailure",
    "LookupFailure",
    "Notification",
    "Officer",
    "OfficerLinkCode",
    "PrivacyRequest",
    "Procedure",
    "ProviderToken",
    "PublicLinkRevocation",
    "RateBucket",
    "ScanState",
    "SpendHold",
    "SpendMonth",
    "Template",
    "User",
    "ZaloFollower",
    "ZaloInboxEvent",
    "affected",
    "table_of",
]

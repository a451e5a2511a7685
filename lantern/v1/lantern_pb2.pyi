import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_TYPED: _ClassVar[Source]
    SOURCE_TITLE: _ClassVar[Source]
SOURCE_UNSPECIFIED: Source
SOURCE_TYPED: Source
SOURCE_TITLE: Source

class RenewRequest(_message.Message):
    __slots__ = ("device_id", "device_secret", "csr_pem")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_SECRET_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    device_secret: str
    csr_pem: bytes
    def __init__(self, device_id: _Optional[str] = ..., device_secret: _Optional[str] = ..., csr_pem: _Optional[bytes] = ...) -> None: ...

class RenewResponse(_message.Message):
    __slots__ = ("client_cert_pem",)
    CLIENT_CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    client_cert_pem: bytes
    def __init__(self, client_cert_pem: _Optional[bytes] = ...) -> None: ...

class EnrolRequest(_message.Message):
    __slots__ = ("token", "instance_id", "hostname", "hardware_serial", "os", "os_version", "agent_version", "csr_pem")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_SERIAL_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    token: str
    instance_id: str
    hostname: str
    hardware_serial: str
    os: str
    os_version: str
    agent_version: str
    csr_pem: bytes
    def __init__(self, token: _Optional[str] = ..., instance_id: _Optional[str] = ..., hostname: _Optional[str] = ..., hardware_serial: _Optional[str] = ..., os: _Optional[str] = ..., os_version: _Optional[str] = ..., agent_version: _Optional[str] = ..., csr_pem: _Optional[bytes] = ...) -> None: ...

class EnrolResponse(_message.Message):
    __slots__ = ("device_id", "device_secret", "client_cert_pem", "ca_cert_pem", "policy")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_SECRET_FIELD_NUMBER: _ClassVar[int]
    CLIENT_CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    device_secret: str
    client_cert_pem: bytes
    ca_cert_pem: bytes
    policy: Policy
    def __init__(self, device_id: _Optional[str] = ..., device_secret: _Optional[str] = ..., client_cert_pem: _Optional[bytes] = ..., ca_cert_pem: _Optional[bytes] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "batch", "heartbeat")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    batch: EventBatch
    heartbeat: Heartbeat
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., batch: _Optional[_Union[EventBatch, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("device_id", "device_secret", "agent_version", "policy_version", "session_id")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_SECRET_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    device_secret: str
    agent_version: str
    policy_version: int
    session_id: str
    def __init__(self, device_id: _Optional[str] = ..., device_secret: _Optional[str] = ..., agent_version: _Optional[str] = ..., policy_version: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("batch_id", "events")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, batch_id: _Optional[int] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_at", "spool_depth", "oldest_spooled_at", "capabilities")
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    SPOOL_DEPTH_FIELD_NUMBER: _ClassVar[int]
    OLDEST_SPOOLED_AT_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    sent_at: _timestamp_pb2.Timestamp
    spool_depth: int
    oldest_spooled_at: _timestamp_pb2.Timestamp
    capabilities: Capabilities
    def __init__(self, sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spool_depth: _Optional[int] = ..., oldest_spooled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., capabilities: _Optional[_Union[Capabilities, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "seq", "observed_at", "os_user", "window_focus", "risk_match", "circumvention", "agent_state", "gap", "limit_tripped")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    OS_USER_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FOCUS_FIELD_NUMBER: _ClassVar[int]
    RISK_MATCH_FIELD_NUMBER: _ClassVar[int]
    CIRCUMVENTION_FIELD_NUMBER: _ClassVar[int]
    AGENT_STATE_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    LIMIT_TRIPPED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    seq: int
    observed_at: _timestamp_pb2.Timestamp
    os_user: str
    window_focus: WindowFocus
    risk_match: RiskMatch
    circumvention: CircumventionSign
    agent_state: AgentState
    gap: Gap
    limit_tripped: LimitTripped
    def __init__(self, event_id: _Optional[str] = ..., seq: _Optional[int] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., os_user: _Optional[str] = ..., window_focus: _Optional[_Union[WindowFocus, _Mapping]] = ..., risk_match: _Optional[_Union[RiskMatch, _Mapping]] = ..., circumvention: _Optional[_Union[CircumventionSign, _Mapping]] = ..., agent_state: _Optional[_Union[AgentState, _Mapping]] = ..., gap: _Optional[_Union[Gap, _Mapping]] = ..., limit_tripped: _Optional[_Union[LimitTripped, _Mapping]] = ...) -> None: ...

class WindowFocus(_message.Message):
    __slots__ = ("app", "process", "pid", "title", "browser", "page_title", "url", "private_window")
    APP_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    PAGE_TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    app: str
    process: str
    pid: int
    title: str
    browser: str
    page_title: str
    url: str
    private_window: bool
    def __init__(self, app: _Optional[str] = ..., process: _Optional[str] = ..., pid: _Optional[int] = ..., title: _Optional[str] = ..., browser: _Optional[str] = ..., page_title: _Optional[str] = ..., url: _Optional[str] = ..., private_window: _Optional[bool] = ...) -> None: ...

class RiskMatch(_message.Message):
    __slots__ = ("category", "severity", "rule", "matched", "snippet", "source", "app", "process", "title", "lexicon_version")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LEXICON_VERSION_FIELD_NUMBER: _ClassVar[int]
    category: str
    severity: int
    rule: str
    matched: str
    snippet: str
    source: Source
    app: str
    process: str
    title: str
    lexicon_version: str
    def __init__(self, category: _Optional[str] = ..., severity: _Optional[int] = ..., rule: _Optional[str] = ..., matched: _Optional[str] = ..., snippet: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ..., app: _Optional[str] = ..., process: _Optional[str] = ..., title: _Optional[str] = ..., lexicon_version: _Optional[str] = ...) -> None: ...

class CircumventionSign(_message.Message):
    __slots__ = ("kind", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    detail: str
    def __init__(self, kind: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("windows", "keyboard", "browser")
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    KEYBOARD_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    windows: str
    keyboard: str
    browser: str
    def __init__(self, windows: _Optional[str] = ..., keyboard: _Optional[str] = ..., browser: _Optional[str] = ...) -> None: ...

class AgentState(_message.Message):
    __slots__ = ("capabilities", "agent_version", "lexicon_version", "rss_bytes", "cpu_percent", "platform")
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    LEXICON_VERSION_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    capabilities: Capabilities
    agent_version: str
    lexicon_version: str
    rss_bytes: int
    cpu_percent: float
    platform: str
    def __init__(self, capabilities: _Optional[_Union[Capabilities, _Mapping]] = ..., agent_version: _Optional[str] = ..., lexicon_version: _Optional[str] = ..., rss_bytes: _Optional[int] = ..., cpu_percent: _Optional[float] = ..., platform: _Optional[str] = ...) -> None: ...

class LimitTripped(_message.Message):
    __slots__ = ("resource", "value", "limit", "component", "action")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    resource: str
    value: float
    limit: float
    component: str
    action: str
    def __init__(self, resource: _Optional[str] = ..., value: _Optional[float] = ..., limit: _Optional[float] = ..., component: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ("reason", "dropped", "first_dropped_at", "last_dropped_at")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    FIRST_DROPPED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_DROPPED_AT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    dropped: int
    first_dropped_at: _timestamp_pb2.Timestamp
    last_dropped_at: _timestamp_pb2.Timestamp
    def __init__(self, reason: _Optional[str] = ..., dropped: _Optional[int] = ..., first_dropped_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_dropped_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CollectorMessage(_message.Message):
    __slots__ = ("ack", "policy", "throttle", "refusal")
    ACK_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    ack: Ack
    policy: Policy
    throttle: Throttle
    refusal: Refusal
    def __init__(self, ack: _Optional[_Union[Ack, _Mapping]] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ..., throttle: _Optional[_Union[Throttle, _Mapping]] = ..., refusal: _Optional[_Union[Refusal, _Mapping]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("batch_id", "stored", "duplicates", "rejected", "reason", "retry", "max_batch_events")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_EVENTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    stored: int
    duplicates: int
    rejected: int
    reason: str
    retry: bool
    max_batch_events: int
    def __init__(self, batch_id: _Optional[int] = ..., stored: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ..., reason: _Optional[str] = ..., retry: _Optional[bool] = ..., max_batch_events: _Optional[int] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("version", "notice_text", "excluded_apps", "categories", "capture_typed", "capture_titles", "heartbeat_seconds", "keywords")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NOTICE_TEXT_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_APPS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TYPED_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TITLES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    version: int
    notice_text: str
    excluded_apps: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    capture_typed: bool
    capture_titles: bool
    heartbeat_seconds: int
    keywords: _containers.RepeatedCompositeFieldContainer[LocalKeyword]
    def __init__(self, version: _Optional[int] = ..., notice_text: _Optional[str] = ..., excluded_apps: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., capture_typed: _Optional[bool] = ..., capture_titles: _Optional[bool] = ..., heartbeat_seconds: _Optional[int] = ..., keywords: _Optional[_Iterable[_Union[LocalKeyword, _Mapping]]] = ...) -> None: ...

class LocalKeyword(_message.Message):
    __slots__ = ("id", "action", "phrase", "category", "severity")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PHRASE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    id: int
    action: str
    phrase: str
    category: str
    severity: int
    def __init__(self, id: _Optional[int] = ..., action: _Optional[str] = ..., phrase: _Optional[str] = ..., category: _Optional[str] = ..., severity: _Optional[int] = ...) -> None: ...

class Throttle(_message.Message):
    __slots__ = ("max_events_per_second", "retry_after_ms")
    MAX_EVENTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    max_events_per_second: int
    retry_after_ms: int
    def __init__(self, max_events_per_second: _Optional[int] = ..., retry_after_ms: _Optional[int] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

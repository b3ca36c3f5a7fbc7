"""The mail programs people write with: their headers, encodings and HTML styles."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Client:
    """How one mail program writes a message."""

    name: str
    headers: tuple[tuple[str, str], ...] = ()
    layout: str = "plain"  # "plain" | "alternative" (text + html) | "html" (html only)
    charset: str = "UTF-8"  # as the program writes it in Content-Type
    text_cte: str = "qp"  # "qp" | "base64" | "auto" (7bit when ASCII, else quoted-printable)
    html_cte: str = "qp"
    html_style: str = ""
    word_charset: str = "UTF-8"  # of RFC 2047 encoded-words in headers
    word_enc: str = "Q"  # "Q" | "B"
    word_whole: bool = True  # encode the whole header value, or only the span of non-ASCII words
    reply: str = "Re: "
    forward: str = "Fwd: "
    msgid: str = "uuid"
    boundary: str = "none"
    quote_charset: bool = False  # charset="utf-8" rather than charset=utf-8
    flowed: bool = False  # RFC 3676 format=flowed
    mime_version: str = "1.0"
    footer: str = ""
    outlook_quote: bool = False  # "-----Ursprüngliche Nachricht-----" above quoted text
    headers_last: bool = False  # X-Mailer & co. after the MIME headers


_OUTLOOK = Client(
    "outlook",
    layout="alternative",
    charset="iso-8859-1",
    html_style="outlook",
    word_charset="iso-8859-1",
    reply="AW: ",
    forward="WG: ",
    msgid="outlook",
    boundary="nextpart",
    quote_charset=True,
    outlook_quote=True,
    headers_last=True,
)
OUTLOOK16 = replace(
    _OUTLOOK, name="outlook16", headers=(("X-Mailer", "Microsoft Outlook 16.0"), ("Content-Language", "de"))
)
_OUTLOOK_WEB = replace(
    _OUTLOOK,
    name="outlook-web",
    headers=(("Content-Language", "de-DE"), ("X-MS-Has-Attach", "no")),
    msgid="exchange",
    boundary="exchange",
)
_WINLIVE = replace(
    _OUTLOOK,
    name="windows-live-mail",
    headers=(
        ("X-Priority", "3"),
        ("X-MSMail-Priority", "Normal"),
        ("X-Mailer", "Microsoft Windows Live Mail 16.4.3528.331"),
        ("X-MimeOLE", "Produced By Microsoft MimeOLE V16.4.3528.331"),
    ),
    charset="iso-8859-15",
    word_charset="iso-8859-15",
    html_style="winlive",
    msgid="winlive",
)
THUNDERBIRD = Client(
    "thunderbird",
    (
        (
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 Thunderbird/78.2.2",
        ),
        ("Content-Language", "de-DE"),
    ),
    text_cte="auto",
    word_whole=False,
    boundary="thunderbird",
    flowed=True,
)
APPLE_MAIL = Client(
    "apple-mail",
    (("X-Mailer", "Apple Mail (2.3608.120.23.2.1)"),),
    layout="alternative",
    charset="utf-8",
    html_style="apple",
    word_charset="utf-8",
    forward="WG: ",
    msgid="UUID",
    boundary="apple",
    mime_version="1.0 (Mac OS X Mail 13.4 \\(3608.120.23.2.1\\))",
)
_IPHONE = Client(
    "iphone",
    (("X-Mailer", "iPhone Mail (17H35)"),),
    charset="utf-8",
    word_charset="utf-8",
    forward="WG: ",
    msgid="UUID",
    mime_version="1.0 (1.0)",
    footer="\n\nGesendet von meinem iPhone",
)
_IPHONE_B64 = replace(
    _IPHONE,
    name="iphone-base64",
    headers=(("X-Mailer", "iPhone Mail (18A373)"),),
    text_cte="base64",
    word_enc="B",
    reply="AW: ",
)
_GMX = Client(
    "gmx-freemail",
    (
        ("X-Priority", "3"),
        ("Importance", "normal"),
        ("Sensitivity", "Normal"),
        ("X-UI-Message-Type", "mail"),
        ("X-Mailer", "GMX FreeMail"),
    ),
    layout="html",
    html_style="gmx",
    word_whole=False,
    reply="Aw: ",
    msgid="trinity",
    quote_charset=True,
)
_WEBDE = replace(
    _GMX,
    name="webde-freemail",
    headers=(("X-Priority", "3"), ("X-UI-Message-Type", "mail"), ("X-Mailer", "WEB.DE FreeMail")),
    html_style="paragraphs",
    word_enc="B",
    word_whole=True,
)
GMAIL = Client(
    "gmail",
    layout="alternative",
    text_cte="auto",
    html_cte="base64",
    html_style="gmail",
    word_enc="B",
    msgid="gmail",
    boundary="gmail",
    quote_charset=True,
)
_SAMSUNG = Client(
    "samsung-email",
    layout="alternative",
    text_cte="base64",
    html_cte="base64",
    html_style="samsung",
    word_enc="B",
    reply="AW: ",
    forward="WG: ",
    msgid="android",
    boundary="samsung",
    footer="\n\nVon meinem Samsung Galaxy Smartphone gesendet.",
)
_ROUNDCUBE = Client(
    "roundcube",
    (("User-Agent", "Roundcube Webmail/1.4.8"),),
    text_cte="auto",
    word_whole=False,
    msgid="hex",
    flowed=True,
)
_K9 = Client(
    "k9-mail",
    (("User-Agent", "K-9 Mail for Android"),),
    word_enc="B",
    footer="\n\n-- \nDiese Nachricht wurde von meinem Android-Gerät mit K-9 Mail gesendet.",
)

# (domain, program): who writes from where. Drawn as a deck, so every pair appears once per round of 41.
FIRM = "firm"
SENDER_DECK: tuple[tuple[str, Client], ...] = (
    *[("gmx.de", _GMX)] * 4,
    *[("gmx.de", c) for c in (_IPHONE, THUNDERBIRD, OUTLOOK16, _SAMSUNG)],
    *[("web.de", _WEBDE)] * 3,
    *[("web.de", c) for c in (_IPHONE_B64, THUNDERBIRD, _WINLIVE)],
    *[("t-online.de", c) for c in (OUTLOOK16, OUTLOOK16, THUNDERBIRD, _IPHONE, _WINLIVE, _SAMSUNG)],
    *[("gmail.com", c) for c in (GMAIL, GMAIL, GMAIL, _SAMSUNG, _IPHONE, _K9)],
    *[("outlook.de", c) for c in (_OUTLOOK_WEB, _OUTLOOK_WEB, OUTLOOK16)],
    *[("freenet.de", c) for c in (_ROUNDCUBE, THUNDERBIRD)],
    *[("posteo.de", c) for c in (_ROUNDCUBE, _K9)],
    *[("icloud.com", c) for c in (APPLE_MAIL, APPLE_MAIL, _IPHONE, _IPHONE_B64)],
    *[(FIRM, c) for c in (OUTLOOK16, OUTLOOK16, THUNDERBIRD, APPLE_MAIL)],
)

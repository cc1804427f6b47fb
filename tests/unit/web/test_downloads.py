"""A download's Content-Disposition: a plain name quoted, any other in UTF-8 (RFC 6266)."""

from __future__ import annotations

from zhisuan.web.downloads import attachment


def test_a_download_keeps_a_chinese_name_and_an_ascii_one_for_old_clients() -> None:
    plain = attachment(b"x", "call-3.xlsx", "text/csv")
    assert plain.headers["content-disposition"] == 'attachment; filename="call-3.xlsx"'
    named = attachment(b"x", "评审结果.xlsx", "text/csv", fallback="call-3.xlsx")
    assert named.headers["content-disposition"] == (
        "attachment; filename=\"call-3.xlsx\"; filename*=UTF-8''%E8%AF%84%E5%AE%A1%E7%BB%93%E6%9E%9C.xlsx"
    )
    quoted = attachment(b"x", 'a"b.pdf', "application/pdf")
    assert quoted.headers["content-disposition"] == "attachment; filename*=UTF-8''a%22b.pdf"

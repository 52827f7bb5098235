# ruff: noqa: RUF001 -- Chinese text is written with full-width punctuation.
"""The console's words in English and Chinese (zh-CN), chosen from the ``lang`` cookie
(the switch on every page) or else the browser's ``Accept-Language``.

Customer data is never translated: it is shown exactly as entered.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "zh-CN")
DEFAULT = "en"
COOKIE = "lang"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "app": "Work orders",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "name": "Name",
        "password": "Password",
        "bad_login": "Name or password is wrong.",
        "locked": "Too many failed sign-ins: try again in a few minutes.",
        "orders": "Orders",
        "new_order": "New order",
        "search": "Search",
        "reference": "Reference",
        "status": "Status",
        "any": "any",
        "region": "Region",
        "created": "Created",
        "customer": "Customer",
        "customer_name": "Name",
        "phone": "Phone",
        "email": "Email",
        "address": "Address",
        "country": "Country",
        "province": "Province",
        "city": "City",
        "district": "District",
        "street": "Street",
        "house_number": "House number",
        "building": "Building",
        "unit": "Unit",
        "room": "Room",
        "postcode": "Postcode",
        "demand": "Service",
        "service_type": "Service type",
        "download_mbps": "Download (Mbit/s)",
        "upload_mbps": "Upload (Mbit/s)",
        "window_start": "Window from",
        "window_end": "Window until",
        "channel": "Channel",
        "external_reference": "External reference",
        "create": "Create order",
        "fix_errors": "The order was not created: see the fields marked.",
        "sub_tasks": "Sub-tasks",
        "construction": "Construction",
        "activation": "Resource activation",
        "quality_check": "Quality check",
        "timeline": "Timeline",
        "technician": "Technician",
        "cancel": "Cancel order",
        "reason": "Reason",
        "cancel_requested": "Cancellation requested.",
        "not_found": "No such order.",
        "forbidden": "You may not open this.",
        "live": "live",
        "no_orders": "No orders.",
        "my_jobs": "My jobs",
        "next": "Next page",
        "csrf": "The form has expired: reload the page and send it again.",
        "cannot_serve": "The order cannot be served",
        "conflict": "Refused",
    },
    "zh-CN": {
        "app": "工单",
        "sign_in": "登录",
        "sign_out": "退出",
        "name": "用户名",
        "password": "密码",
        "bad_login": "用户名或密码错误。",
        "locked": "登录失败次数过多，请几分钟后再试。",
        "orders": "工单列表",
        "new_order": "新建工单",
        "search": "搜索",
        "reference": "编号",
        "status": "状态",
        "any": "全部",
        "region": "区域",
        "created": "创建时间",
        "customer": "客户",
        "customer_name": "姓名",
        "phone": "电话",
        "email": "邮箱",
        "address": "地址",
        "country": "国家",
        "province": "省",
        "city": "市",
        "district": "区",
        "street": "街道",
        "house_number": "门牌号",
        "building": "楼",
        "unit": "单元",
        "room": "室",
        "postcode": "邮编",
        "demand": "业务",
        "service_type": "业务类型",
        "download_mbps": "下行 (Mbit/s)",
        "upload_mbps": "上行 (Mbit/s)",
        "window_start": "预约开始",
        "window_end": "预约结束",
        "channel": "渠道",
        "external_reference": "外部编号",
        "create": "创建工单",
        "fix_errors": "工单未创建：请修改标出的字段。",
        "sub_tasks": "子任务",
        "construction": "施工",
        "activation": "资源开通",
        "quality_check": "质量检测",
        "timeline": "处理记录",
        "technician": "装维人员",
        "cancel": "撤销工单",
        "reason": "原因",
        "cancel_requested": "已申请撤销。",
        "not_found": "工单不存在。",
        "forbidden": "无权查看。",
        "live": "实时",
        "no_orders": "暂无工单。",
        "my_jobs": "我的工单",
        "next": "下一页",
        "csrf": "表单已过期：请刷新页面后重新提交。",
        "cannot_serve": "无法受理该工单",
        "conflict": "已拒绝",
    },
}


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language of the cookie if it is one we have, else the browser's first one
    we have (``zh``, ``zh-Hans``, ``zh-CN`` are Chinese), else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh") and not tag.startswith(("zh-tw", "zh-hk", "zh-hant")):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


def translator(language: str) -> Callable[[str], str]:
    words = MESSAGES[language]
    return lambda key: words.get(key, MESSAGES[DEFAULT].get(key, key))

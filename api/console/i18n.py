# ruff: noqa: RUF001 -- Chinese text is written with full-width punctuation.
"""The console's words in English and Chinese (zh-CN), chosen from the ``lang`` cookie
(the switch on every page) or else the browser's ``Accept-Language``.

Customer data is never translated: it is shown exactly as entered.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError
from pydantic_core import ErrorDetails

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
        "no_jobs": "No open jobs.",
        "window": "Window",
        "visit": "visit",
        "note": "Note",
        "ont_serial": "Terminal serial",
        "serial_needed": "Enter the serial of the installed terminal.",
        "reason_needed": "Choose why the job cannot be completed.",
        "job_waits": "Reported; operations or a colleague take it from here.",
        "job.assigned": "assigned",
        "job.accepted": "accepted",
        "job.en_route": "on the way",
        "job.on_site": "on site",
        "job.completed": "completed",
        "job.cannot_complete": "cannot complete",
        "do.accepted": "Accept",
        "do.en_route": "On my way",
        "do.on_site": "Arrived",
        "do.completed": "Complete installation",
        "do.cannot_complete": "Cannot complete",
        "because.technician_declined": "I cannot take this job",
        "because.customer_absent": "Customer not there",
        "because.no_free_port": "No free port",
        "because.access_denied": "No access to the premises",
        "because.customer_declined": "Customer declined",
        "because.network_fault": "Network fault",
        "because.other": "Other (see note)",
        "users": "Users",
        "add_user": "Add user",
        "role": "Role",
        "role.front_desk": "front desk",
        "role.operations": "operations",
        "role.technician": "technician",
        "disabled": "disabled",
        "locked_out": "locked out",
        "active": "active",
        "new_password": "New password",
        "reset_password": "Set password",
        "enable": "Enable",
        "disable": "Disable",
        "not_yourself": "You cannot disable yourself.",
        "board": "Board",
        "queue": "Waiting for a technician",
        "technicians": "Technicians",
        "load": "jobs",
        "late": "In jeopardy or past the time limit",
        "waiting": "Waiting for operations",
        "nothing": "Nothing.",
        "assign": "Assign",
        "retry": "Retry",
        "retry_planned": "Retry with data planned anew",
        "abort": "Abort",
        "fail": "Give up",
        "data": "Data",
        "inactive": "inactive",
        "due": "due",
        "sla.jeopardy": "jeopardy",
        "sla.breached": "past time limit",
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
        "no_jobs": "暂无待办工单。",
        "window": "预约时间",
        "visit": "上门次数",
        "note": "备注",
        "ont_serial": "终端序列号",
        "serial_needed": "请填写已安装终端的序列号。",
        "reason_needed": "请选择无法完成的原因。",
        "job_waits": "已上报，由运维或同事继续处理。",
        "job.assigned": "已派单",
        "job.accepted": "已接单",
        "job.en_route": "在途",
        "job.on_site": "已到场",
        "job.completed": "已完成",
        "job.cannot_complete": "无法完成",
        "do.accepted": "接单",
        "do.en_route": "出发",
        "do.on_site": "到达现场",
        "do.completed": "完成安装",
        "do.cannot_complete": "无法完成",
        "because.technician_declined": "本人无法接单",
        "because.customer_absent": "客户不在",
        "because.no_free_port": "无空闲端口",
        "because.access_denied": "无法进入",
        "because.customer_declined": "客户拒绝",
        "because.network_fault": "网络故障",
        "because.other": "其他（见备注）",
        "users": "用户管理",
        "add_user": "添加用户",
        "role": "角色",
        "role.front_desk": "前台",
        "role.operations": "运维",
        "role.technician": "装维人员",
        "disabled": "已停用",
        "locked_out": "已锁定",
        "active": "正常",
        "new_password": "新密码",
        "reset_password": "设置密码",
        "enable": "启用",
        "disable": "停用",
        "not_yourself": "不能停用自己。",
        "board": "调度看板",
        "queue": "待派工单",
        "technicians": "装维人员",
        "load": "单",
        "late": "即将超时或已超时",
        "waiting": "待运维处理",
        "nothing": "无。",
        "assign": "派单",
        "retry": "重试",
        "retry_planned": "按历史重新规划后重试",
        "abort": "终止",
        "fail": "放弃安装",
        "data": "数据",
        "inactive": "停用",
        "due": "时限",
        "sla.jeopardy": "即将超时",
        "sla.breached": "已超时",
    },
}


FIELD_ERRORS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "missing": "必填",
        "string_too_short": "至少 {min_length} 个字符",
        "string_too_long": "最多 {max_length} 个字符",
        "string_pattern_mismatch": "格式不对",
        "string_type": "应为文字",
        "int_type": "应为整数",
        "int_parsing": "应为整数",
        "float_type": "应为数字",
        "float_parsing": "应为数字",
        "bool_type": "应为是或否",
        "greater_than": "应大于 {gt}",
        "greater_than_equal": "不能小于 {ge}",
        "less_than": "应小于 {lt}",
        "less_than_equal": "不能大于 {le}",
        "too_short": "至少 {min_length} 项",
        "too_long": "最多 {max_length} 项",
        "literal_error": "应为 {expected} 之一",
        "enum": "应为 {expected} 之一",
        "extra_forbidden": "不接受此字段",
        "json_invalid": "不是有效的 JSON",
        "dict_type": "应为对象",
        "list_type": "应为列表",
        "datetime_type": "应为日期和时间",
        "datetime_parsing": "应为日期和时间",
        "datetime_from_date_parsing": "应为日期和时间",
        "timezone_aware": "需带时区",
        "value_error": "无效：{reason}",
        "instant_format": "请填写带时区的 ISO 8601 日期和时间",
        "instant_outside_calendar": "换算成 UTC 后超出日历范围",
        "window_order": "结束时间须晚于开始时间",
        "country_not_served": "不服务国家 {country}",
        "address_field_required": "{country} 地址必填",
        "address_field_foreign": "{country} 地址没有此项（可填：{fields}）",
        "postcode_format": "{country} 邮编格式为 {pattern}，例如 {example}",
        "action_needs": "{action} 需要填写 {field}",
        "abort_takes_no_data": "中止时不带数据",
        "state_not_reportable": "技术员不能报告“已派单”",
    },
}
"""Validation errors by their type, with their context (limits, a country's format):
English is pydantic's and the models' own text."""


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


def field_error(language: str, error: ErrorDetails) -> str:
    """One validation error in the reader's language (English: as the API says it)."""
    template = FIELD_ERRORS.get(language, {}).get(error["type"])
    if template is None:
        return error["msg"]
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return error["msg"]


def field_errors(language: str, error: ValidationError) -> dict[str, str]:
    """A form's errors by field (``customer.phone``; the whole form's at ``""``)."""
    found: dict[str, str] = {}
    for detail in error.errors():
        found.setdefault(".".join(str(p) for p in detail["loc"]), field_error(language, detail))
    return found

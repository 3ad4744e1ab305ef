"""Reference data the simulator builds on: Taiyuan's districts, streets and hotels (March 2022).

Names and anchor figures come from the seed page `seed/taiyuan-2022-03-district-reports.txt`: 1413 grids
in 小店区, 1355 grid workers in 万柏林区, 350 in 娄烦县, 2000 cadres volunteering in 小店区, 16 close contacts
transferred to isolation hotels (银海酒店, 锦江之星) from the 慕思酒店 sealed zone, 4 sealed zones in 平阳路街道
and 3 in 桥东街道. Populations are rounded approximations (Taiyuan ≈ 5.4 M); everything else is generated.
"""

from __future__ import annotations

from dataclasses import dataclass

CITY_ID = "140100"
CITY_NAME = "太原市"


@dataclass(frozen=True)
class DistrictProfile:
    district_id: str
    population: int
    grid_workers: int  # grid workers on the roster; a few are off duty on any day
    volunteers: int  # volunteers on a quiet day; outbreaks and sampling rounds call up more
    outbreak_weight: float  # share of the city's cases this district tends to see
    initial_sealed_zones: int  # sealed zones already in force on the first simulated day
    initial_sealed_days_left: int  # ... and for how many more days (小店区's 4 were lifted by 6 March)
    is_urban: bool


# Keyed by district_id; the names come from the roster seed (epifeeds.feeds.names), not from here.
DISTRICT_PROFILES: dict[str, DistrictProfile] = {
    p.district_id: p
    for p in (
        DistrictProfile("140105", 1_140_000, 1413, 2000, 0.34, 4, 5, True),  # 小店区
        DistrictProfile("140106", 720_000, 960, 1150, 0.16, 3, 9, True),  # 迎泽区
        DistrictProfile("140107", 740_000, 990, 1200, 0.12, 0, 0, True),  # 杏花岭区
        DistrictProfile("140108", 620_000, 830, 950, 0.11, 1, 4, True),  # 尖草坪区
        DistrictProfile("140109", 960_000, 1355, 1500, 0.13, 0, 0, True),  # 万柏林区
        DistrictProfile("140110", 300_000, 420, 480, 0.05, 0, 0, True),  # 晋源区
        DistrictProfile("140121", 360_000, 520, 520, 0.04, 0, 0, False),  # 清徐县
        DistrictProfile("140122", 150_000, 240, 230, 0.02, 0, 0, False),  # 阳曲县
        DistrictProfile("140123", 100_000, 350, 160, 0.01, 0, 0, False),  # 娄烦县
        DistrictProfile("140181", 310_000, 450, 420, 0.02, 0, 0, False),  # 古交市
    )
}

# Streets (街道/镇) and communities (社区/村) the seed page names; the rest of each district is generated.
SEED_STREETS: dict[str, dict[str, tuple[str, ...]]] = {
    "140105": {"平阳路街道": ("亲贤社区", "百万庄西区社区")},
    "140106": {"桥东街道": (), "文庙街道": ("五龙口三社区",), "迎泽街道": ("并二社区",)},
    "140109": {"千峰街道": ("金玉社区",)},
    "140110": {"晋源街道": ("晋源社区",)},
}

# Isolation hotels the seed page names (小店区, 平阳路街道), with plausible sizes.
SEED_HOTELS: tuple[tuple[str, str, str, int], ...] = (
    # (hotel_name, district_id, street, rooms)
    ("银海酒店", "140105", "平阳路街道", 96),
    ("锦江之星", "140105", "平阳路街道", 84),
)

# The 慕思酒店 outbreak: the sealed zone that opens the simulation (not an isolation hotel).
SEED_SEALED_ZONE = {"zone_name": "慕思酒店", "district_id": "140105", "street": "平阳路街道"}
SEED_FIRST_DAY_TRANSFERRED = 16  # 小店区 moved 16 close contacts to centralised isolation

# Syllables for generated names: common, GBK-encodable characters only.
NAME_PREFIXES = (
    "长风",
    "和平",
    "新建",
    "朝阳",
    "建设",
    "文化",
    "胜利",
    "光明",
    "友谊",
    "兴华",
    "南内环",
    "北大街",
    "双塔",
    "五一",
    "府东",
    "府西",
    "晋祠",
    "龙城",
    "汾河",
    "并州",
    "柳溪",
    "开化",
    "滨河",
    "学府",
    "长治路",
    "体育路",
    "南沙河",
    "后北屯",
    "西华门",
    "东岗",
    "新晋祠",
    "迎新",
    "桃园",
    "东华",
    "北城",
    "城西",
    "杨家峪",
    "坞城",
    "许西",
    "黄陵",
    "龙山",
    "金阳",
    "丽华",
    "漪汾",
    "玉门河",
    "晋阳",
)
COMMUNITY_SUFFIXES = ("社区", "一社区", "二社区", "三社区", "东社区", "西社区", "南社区", "北社区", "村")
VILLAGE_SUFFIXES = ("村", "庄村", "堡村", "沟村", "新村", "社区", "东村", "西村")
HOTEL_PREFIXES = (
    "龙城",
    "汾河",
    "晋阳",
    "并州",
    "锦绣",
    "华苑",
    "金桥",
    "鑫源",
    "瑞丰",
    "恒达",
    "泰和",
    "宏远",
    "康馨",
    "悦来",
    "汇通",
    "丰泽",
    "嘉禾",
    "君悦",
    "天龙",
    "迎宾",
    "凯旋",
    "长城",
    "国贸",
    "星辰",
)
HOTEL_SUFFIXES = ("酒店", "宾馆", "商务酒店", "快捷酒店", "大酒店", "假日酒店")

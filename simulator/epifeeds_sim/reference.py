"""Reference data the simulator builds on: Taiyuan's districts, streets and hotels (March 2022).

Names and anchor figures come from the seed page `seed/taiyuan-2022-03-district-reports.txt`: 1413 grids
in 小店区, 1355 grid workers in 万柏林区, 350 in 娄烦县, 2000 cadres volunteering in 小店区, 16 close contacts
transferred to isolation hotels (银海酒店, 锦江之星) from the 慕思酒店 sealed zone, 4 sealed zones in 平阳路街道
and 3 in 桥东街道. Populations are rounded approximations (Taiyuan ≈ 5.4 M); everything else is generated.
"""

from __future__ import annotations

import random
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

# ------------------------------------------------------------------------------------ province scale
#
# Shanxi (山西省) as of March 2022: 11 prefecture-level cities and their 117 county-level divisions, every
# name and code real (GB/T 2260 codes after the 2018-2020 changes: 大同's 平城/云冈/云州区, 长治's 潞州/上党/
# 屯留/潞城区, 怀仁市, 太谷区; the statistics-only development zones such as 140171 are not divisions and
# are left out). Taiyuan's ten come from the platform's roster seed, not from here. Two divisions share
# the name 城区 (阳泉 140302, 晋城 140502): a province-wide feed cannot tell them apart, so the simulator
# names them 阳泉市城区 and 晋城市城区. What is synthetic: every figure below the city populations (the
# 2020 census, rounded) — district populations, grid workers, volunteers, outbreak intensities.


@dataclass(frozen=True)
class CityProfile:
    city_id: str
    city_name: str
    city_name_en: str
    population: int  # 2020 census, rounded
    outbreak_intensity: float  # the city's expected cases relative to Taiyuan's (synthetic)


PROVINCE_CITIES: tuple[CityProfile, ...] = (
    CityProfile(CITY_ID, CITY_NAME, "Taiyuan", 5_400_000, 1.0),  # districts from the roster seed
    CityProfile("140200", "大同市", "Datong", 3_110_000, 0.15),
    CityProfile("140300", "阳泉市", "Yangquan", 1_320_000, 0.08),
    CityProfile("140400", "长治市", "Changzhi", 3_180_000, 0.12),
    CityProfile("140500", "晋城市", "Jincheng", 2_190_000, 0.10),
    CityProfile("140600", "朔州市", "Shuozhou", 1_590_000, 0.06),
    CityProfile("140700", "晋中市", "Jinzhong", 3_380_000, 0.25),
    CityProfile("140800", "运城市", "Yuncheng", 4_770_000, 0.10),
    CityProfile("140900", "忻州市", "Xinzhou", 2_690_000, 0.08),
    CityProfile("141000", "临汾市", "Linfen", 3_980_000, 0.12),
    CityProfile("141100", "吕梁市", "Lüliang", 3_400_000, 0.10),
)

# city_id -> (district_id, name, English name), in code order; Taiyuan's are the roster seed's.
PROVINCE_DISTRICTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "140200": (
        ("140212", "新荣区", "Xinrong"),
        ("140213", "平城区", "Pingcheng"),
        ("140214", "云冈区", "Yungang"),
        ("140215", "云州区", "Yunzhou"),
        ("140221", "阳高县", "Yanggao"),
        ("140222", "天镇县", "Tianzhen"),
        ("140223", "广灵县", "Guangling"),
        ("140224", "灵丘县", "Lingqiu"),
        ("140225", "浑源县", "Hunyuan"),
        ("140226", "左云县", "Zuoyun"),
    ),
    "140300": (
        ("140302", "阳泉市城区", "Yangquan Chengqu"),  # officially 城区
        ("140303", "矿区", "Kuangqu"),
        ("140311", "郊区", "Jiaoqu"),
        ("140321", "平定县", "Pingding"),
        ("140322", "盂县", "Yuxian"),
    ),
    "140400": (
        ("140403", "潞州区", "Luzhou"),
        ("140404", "上党区", "Shangdang"),
        ("140405", "屯留区", "Tunliu"),
        ("140406", "潞城区", "Lucheng"),
        ("140423", "襄垣县", "Xiangyuan"),
        ("140425", "平顺县", "Pingshun"),
        ("140426", "黎城县", "Licheng"),
        ("140427", "壶关县", "Huguan"),
        ("140428", "长子县", "Zhangzi"),
        ("140429", "武乡县", "Wuxiang"),
        ("140430", "沁县", "Qinxian"),
        ("140431", "沁源县", "Qinyuan"),
    ),
    "140500": (
        ("140502", "晋城市城区", "Jincheng Chengqu"),  # officially 城区
        ("140521", "沁水县", "Qinshui"),
        ("140522", "阳城县", "Yangcheng"),
        ("140524", "陵川县", "Lingchuan"),
        ("140525", "泽州县", "Zezhou"),
        ("140581", "高平市", "Gaoping"),
    ),
    "140600": (
        ("140602", "朔城区", "Shuocheng"),
        ("140603", "平鲁区", "Pinglu"),
        ("140621", "山阴县", "Shanyin"),
        ("140622", "应县", "Yingxian"),
        ("140623", "右玉县", "Youyu"),
        ("140681", "怀仁市", "Huairen"),
    ),
    "140700": (
        ("140702", "榆次区", "Yuci"),
        ("140703", "太谷区", "Taigu"),
        ("140721", "榆社县", "Yushe"),
        ("140722", "左权县", "Zuoquan"),
        ("140723", "和顺县", "Heshun"),
        ("140724", "昔阳县", "Xiyang"),
        ("140725", "寿阳县", "Shouyang"),
        ("140727", "祁县", "Qixian"),
        ("140728", "平遥县", "Pingyao"),
        ("140729", "灵石县", "Lingshi"),
        ("140781", "介休市", "Jiexiu"),
    ),
    "140800": (
        ("140802", "盐湖区", "Yanhu"),
        ("140821", "临猗县", "Linyi"),
        ("140822", "万荣县", "Wanrong"),
        ("140823", "闻喜县", "Wenxi"),
        ("140824", "稷山县", "Jishan"),
        ("140825", "新绛县", "Xinjiang"),
        ("140826", "绛县", "Jiangxian"),
        ("140827", "垣曲县", "Yuanqu"),
        ("140828", "夏县", "Xiaxian"),
        ("140829", "平陆县", "Pinglu"),
        ("140830", "芮城县", "Ruicheng"),
        ("140881", "永济市", "Yongji"),
        ("140882", "河津市", "Hejin"),
    ),
    "140900": (
        ("140902", "忻府区", "Xinfu"),
        ("140921", "定襄县", "Dingxiang"),
        ("140922", "五台县", "Wutai"),
        ("140923", "代县", "Daixian"),
        ("140924", "繁峙县", "Fanshi"),
        ("140925", "宁武县", "Ningwu"),
        ("140926", "静乐县", "Jingle"),
        ("140927", "神池县", "Shenchi"),
        ("140928", "五寨县", "Wuzhai"),
        ("140929", "岢岚县", "Kelan"),
        ("140930", "河曲县", "Hequ"),
        ("140931", "保德县", "Baode"),
        ("140932", "偏关县", "Pianguan"),
        ("140981", "原平市", "Yuanping"),
    ),
    "141000": (
        ("141002", "尧都区", "Yaodu"),
        ("141021", "曲沃县", "Quwo"),
        ("141022", "翼城县", "Yicheng"),
        ("141023", "襄汾县", "Xiangfen"),
        ("141024", "洪洞县", "Hongtong"),
        ("141025", "古县", "Guxian"),
        ("141026", "安泽县", "Anze"),
        ("141027", "浮山县", "Fushan"),
        ("141028", "吉县", "Jixian"),
        ("141029", "乡宁县", "Xiangning"),
        ("141030", "大宁县", "Daning"),
        ("141031", "隰县", "Xixian"),
        ("141032", "永和县", "Yonghe"),
        ("141033", "蒲县", "Puxian"),
        ("141034", "汾西县", "Fenxi"),
        ("141081", "侯马市", "Houma"),
        ("141082", "霍州市", "Huozhou"),
    ),
    "141100": (
        ("141102", "离石区", "Lishi"),
        ("141121", "文水县", "Wenshui"),
        ("141122", "交城县", "Jiaocheng"),
        ("141123", "兴县", "Xingxian"),
        ("141124", "临县", "Linxian"),
        ("141125", "柳林县", "Liulin"),
        ("141126", "石楼县", "Shilou"),
        ("141127", "岚县", "Lanxian"),
        ("141128", "方山县", "Fangshan"),
        ("141129", "中阳县", "Zhongyang"),
        ("141130", "交口县", "Jiaokou"),
        ("141181", "孝义市", "Xiaoyi"),
        ("141182", "汾阳市", "Fenyang"),
    ),
}
OFFICIAL_NAMES = {"140302": "城区", "140502": "城区"}  # renamed above to be told apart province-wide


def _synthetic_profiles() -> dict[str, DistrictProfile]:
    """Figures for the districts outside Taiyuan: fixed (not seeded by a run), plausible, made up.

    A city's population is split over its districts by kind (区 > 县级市 > 县) with a fixed jitter; grid
    workers and volunteers follow Taiyuan's ratios (小店区: 1,413 grids and 2,000 volunteers for 1.14 M).
    """
    profiles: dict[str, DistrictProfile] = {}
    for city in PROVINCE_CITIES:
        districts = PROVINCE_DISTRICTS.get(city.city_id, ())
        jitter = [random.Random(f"epifeeds-sim-profile:{d}").uniform(0.75, 1.25) for d, _, _ in districts]
        kind = [1.8 if n.endswith("区") else 1.3 if n.endswith("市") else 0.8 for _, n, _ in districts]
        weights = [k * j for k, j in zip(kind, jitter, strict=True)]
        for (district_id, name, _), weight in zip(districts, weights, strict=True):
            share = weight / sum(weights)
            population = round(city.population * share, -3)
            profiles[district_id] = DistrictProfile(
                district_id,
                int(population),
                grid_workers=max(60, round(population / 800)),
                volunteers=max(50, round(population / 570)),
                outbreak_weight=round(city.outbreak_intensity * share, 4),
                initial_sealed_zones=0,
                initial_sealed_days_left=0,
                is_urban=name.endswith("区"),
            )
    return profiles


DISTRICT_PROFILES.update(_synthetic_profiles())

# More hotel-name syllables for the province (Taiyuan's city-scale names keep drawing from the list above).
PROVINCE_HOTEL_PREFIXES = (
    "云冈",
    "平遥",
    "五台",
    "太行",
    "吕梁",
    "晋商",
    "尧都",
    "关帝",
    "河东",
    "上党",
    "沁河",
    "雁门",
    "紫荆",
    "御河",
    "桑干",
    "鹳雀",
    "盐湖",
    "绵山",
    "芦芽",
    "皇城",
    "晋阳湖",
    "府城",
    "古城",
    "新城",
)

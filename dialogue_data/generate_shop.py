"""Generate the demo shop "Lumen Lane": catalog, knowledge, store records. Deterministic.

Run from the repository root:  python dialogue_data/generate_shop.py
It rewrites catalog/, knowledge/ and store/ under dialogue_data/; `generate_logs.py` then writes
the support logs and splits from them. Standard library only; the same seed gives byte-identical
files, and the output is committed so a fresh clone never needs to run this.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

SEED = 20261122
# The folder to write (and, for the logs, to read the shop from): the first argument, else this one.
ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent
CURRENCY = "USD"
SHOP = {"en": "Lumen Lane", "zh": "流明小巷"}

COLOURS = [
    ("black", "黑色"), ("white", "白色"), ("navy", "藏青色"), ("red", "红色"), ("blue", "蓝色"),
    ("green", "绿色"), ("grey", "灰色"), ("beige", "米色"), ("pink", "粉色"), ("brown", "棕色"),
    ("yellow", "黄色"), ("purple", "紫色"),
]  # fmt: skip
MATERIALS = {
    "cotton": "棉", "wool": "羊毛", "linen": "亚麻", "polyester": "涤纶", "leather": "皮革",
    "down": "羽绒", "denim": "牛仔布", "silk": "真丝", "stainless steel": "不锈钢", "ceramic": "陶瓷",
    "bamboo": "竹", "aluminium": "铝", "silicone": "硅胶", "canvas": "帆布", "nylon": "尼龙",
    "glass": "玻璃", "wood": "木", "mesh": "网布", "cashmere": "羊绒", "suede": "麂皮", "plastic": "塑料",
}  # fmt: skip
APPAREL_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
SHOE_SIZES = [str(s) for s in range(36, 47)]
ADJECTIVES = [
    ("Classic", "经典"), ("Everyday", "日常"), ("Lightweight", "轻盈"), ("Premium", "高级"),
    ("Urban", "都市"), ("Essential", "基础款"), ("Soft", "柔软"), ("Compact", "小巧"),
    ("Pro", "专业"), ("Vintage", "复古"), ("Eco", "环保"), ("Cozy", "舒适"),
]  # fmt: skip

# category -> (zh name, sub-categories: [(type en, type zh, sub en, sub zh, price range,
#   size kind, materials, features en, features zh)], brands)
CATEGORIES: dict[str, tuple] = {
    "apparel": ("服装", [
        ("T-shirt", "T恤", "tops", "上衣", (12, 45), "apparel", ["cotton", "linen", "polyester"],
         "breathable fabric and a relaxed fit", "面料透气，版型宽松"),
        ("hoodie", "连帽卫衣", "tops", "上衣", (35, 89), "apparel", ["cotton", "polyester"],
         "a brushed fleece lining and a roomy front pocket", "内里磨毛抓绒，前袋宽大"),
        ("down jacket", "羽绒服", "outerwear", "外套", (89, 259), "apparel", ["down", "nylon"],
         "800-fill insulation and a water-repellent shell", "800蓬松度填充，外层防泼水"),
        ("rain jacket", "雨衣夹克", "outerwear", "外套", (59, 169), "apparel", ["nylon", "polyester"],
         "taped seams and a packable hood", "压胶接缝，兜帽可收纳"),
        ("jeans", "牛仔裤", "bottoms", "下装", (39, 119), "apparel", ["denim"],
         "a mid-rise waist and a slim leg", "中腰设计，修身裤型"),
        ("sweater", "毛衣", "knitwear", "针织", (45, 199), "apparel", ["wool", "cashmere", "cotton"],
         "a fine-gauge knit that keeps its shape", "细针编织，不易变形"),
    ], ["Northway", "Linea", "Harbor & Co", "Mori", "Tidewell"]),
    "shoes": ("鞋履", [
        ("running shoes", "跑步鞋", "sneakers", "运动鞋", (59, 179), "shoe", ["mesh", "nylon"],
         "a cushioned midsole and a grippy rubber outsole", "中底缓震，橡胶大底抓地力强"),
        ("sneakers", "休闲鞋", "sneakers", "运动鞋", (45, 139), "shoe", ["canvas", "leather", "suede"],
         "a padded collar and a removable insole", "鞋口加垫，鞋垫可拆"),
        ("ankle boots", "短靴", "boots", "靴子", (79, 229), "shoe", ["leather", "suede"],
         "a side zip and a stacked heel", "侧拉链设计，叠层鞋跟"),
        ("hiking boots", "登山靴", "boots", "靴子", (99, 249), "shoe", ["leather", "nylon"],
         "a waterproof membrane and ankle support", "防水内膜，护踝支撑"),
        ("sandals", "凉鞋", "sandals", "凉鞋", (25, 89), "shoe", ["leather", "silicone"],
         "adjustable straps and a contoured footbed", "绑带可调，贴合足弓的鞋床"),
    ], ["Stride", "Pathfinder", "Koa", "Velo", "Ember"]),
    "bags": ("箱包", [
        ("backpack", "双肩包", "backpacks", "双肩包", (39, 149), "none", ["nylon", "canvas", "leather"],
         "a padded 15-inch laptop sleeve", "带15英寸电脑隔层"),
        ("tote bag", "托特包", "handbags", "手提包", (29, 179), "none", ["canvas", "leather"],
         "an inner zip pocket and sturdy handles", "内置拉链袋，手柄结实"),
        ("carry-on suitcase", "登机箱", "luggage", "行李箱", (119, 329), "none", ["aluminium", "polyester"],
         "360-degree spinner wheels and a TSA lock", "360度万向轮，配TSA海关锁"),
        ("wallet", "钱包", "small leather goods", "小皮具", (19, 89), "none", ["leather"],
         "RFID blocking and eight card slots", "防RFID盗刷，八个卡位"),
    ], ["Carryall", "Nomad", "Satchel & Sons", "Vessel"]),
    "electronics": ("数码电子", [
        ("wireless earbuds", "无线耳机", "audio", "音频", (39, 199), "none", ["plastic"],
         "active noise cancellation and 30 hours of battery with the case", "主动降噪，连充电盒续航30小时"),
        ("bluetooth speaker", "蓝牙音箱", "audio", "音频", (29, 159), "none", ["silicone", "aluminium"],
         "IPX7 water resistance and 12 hours of playback", "IPX7防水，续航12小时"),
        ("power bank", "充电宝", "phone accessories", "手机配件", (19, 69), "none", ["aluminium", "plastic"],
         "20,000 mAh capacity and 65 W USB-C output", "20000毫安容量，65瓦USB-C输出"),
        ("phone case", "手机壳", "phone accessories", "手机配件", (12, 39), "none", ["silicone", "leather"],
         "raised edges that protect the camera", "边框加高保护镜头"),
        ("smartwatch", "智能手表", "wearables", "可穿戴设备", (99, 299), "none", ["aluminium", "silicone"],
         "heart-rate tracking and 7-day battery life", "心率监测，续航7天"),
        ("USB-C charger", "USB-C充电器", "phone accessories", "手机配件", (15, 59), "none", ["plastic"],
         "GaN technology in a pocket-size body", "氮化镓技术，小巧便携"),
    ], ["Voltix", "Aurora Audio", "Pixelo", "Tonic", "Quanta"]),
    "home": ("家居", [
        ("duvet cover", "被套", "bedding", "床上用品", (39, 129), "bed", ["cotton", "linen", "silk"],
         "hidden button closure and corner ties", "隐藏式纽扣，四角系带"),
        ("throw blanket", "盖毯", "bedding", "床上用品", (29, 99), "none", ["wool", "cotton", "cashmere"],
         "a chunky weave and fringed edges", "粗针编织，流苏边"),
        ("table lamp", "台灯", "lighting", "灯具", (35, 149), "none", ["ceramic", "wood", "glass"],
         "a dimmable warm-white bulb included", "附赠可调光暖白灯泡"),
        ("storage basket", "收纳篮", "storage", "收纳", (15, 49), "none", ["bamboo", "canvas"],
         "reinforced handles and a foldable frame", "加固提手，可折叠"),
        ("bath towel set", "浴巾套装", "bath", "浴室", (25, 79), "none", ["cotton", "bamboo"],
         "600 gsm loops that dry quickly", "600克重毛圈，速干"),
    ], ["Hearth", "Nest & Nook", "Calma", "Oaken"]),
    "kitchen": ("厨房", [
        ("chef's knife", "主厨刀", "knives", "刀具", (29, 149), "none", ["stainless steel"],
         "a full-tang blade with a 15-degree edge", "全龙骨刀身，15度开刃"),
        ("frying pan", "煎锅", "cookware", "锅具", (25, 119), "none", ["stainless steel", "aluminium"],
         "a PFAS-free non-stick coating that works on induction", "不含PFAS不粘涂层，适用电磁炉"),
        ("coffee mug set", "咖啡杯套装", "tableware", "餐具", (19, 59), "none", ["ceramic", "glass"],
         "dishwasher- and microwave-safe glaze", "釉面可用洗碗机和微波炉"),
        ("water bottle", "保温水瓶", "drinkware", "杯壶", (15, 45), "none", ["stainless steel", "glass"],
         "double-wall insulation that keeps drinks cold for 24 hours", "双层保温，冷饮保冷24小时"),
        ("electric kettle", "电热水壶", "appliances", "厨房电器", (29, 99), "none", ["stainless steel", "glass"],
         "five temperature presets and auto shut-off", "五档温控，自动断电"),
    ], ["Copperleaf", "Mise", "Brightkitchen", "Sora"]),
    "beauty": ("美妆个护", [
        ("face moisturiser", "面霜", "skincare", "护肤", (15, 79), "none", ["glass"],
         "hyaluronic acid and ceramides for dry skin", "含玻尿酸和神经酰胺，适合干性肌肤"),
        ("vitamin C serum", "维C精华", "skincare", "护肤", (19, 89), "none", ["glass"],
         "15% stabilised vitamin C", "15%稳定型维C"),
        ("sunscreen SPF 50", "SPF50防晒霜", "skincare", "护肤", (12, 39), "none", ["plastic"],
         "broad-spectrum protection without a white cast", "广谱防晒，不泛白"),
        ("shampoo", "洗发水", "hair care", "美发", (9, 35), "none", ["plastic"],
         "a sulfate-free formula for colour-treated hair", "无硫酸盐配方，适合染后发质"),
        ("eau de parfum", "香水", "fragrance", "香氛", (45, 159), "none", ["glass"],
         "notes of bergamot, cedar and musk", "佛手柑、雪松与麝香香调"),
    ], ["Lumière", "Dewdrop", "Botanica", "Kiyo"]),
    "sports": ("运动户外", [
        ("yoga mat", "瑜伽垫", "fitness", "健身", (25, 89), "none", ["silicone", "polyester"],
         "a 6 mm non-slip surface and a carry strap", "6毫米防滑表面，附背带"),
        ("dumbbell set", "哑铃套装", "fitness", "健身", (39, 199), "none", ["stainless steel"],
         "adjustable weights from 2 to 20 kg", "重量可调，2至20公斤"),
        ("camping tent", "露营帐篷", "camping", "露营", (89, 349), "none", ["nylon", "polyester"],
         "a two-person layout that pitches in five minutes", "双人空间，五分钟快速搭建"),
        ("cycling helmet", "骑行头盔", "cycling", "骑行", (39, 149), "none", ["polyester", "plastic"],
         "MIPS protection and a rear LED light", "MIPS防护系统，后置LED灯"),
        ("running shorts", "跑步短裤", "activewear", "运动服", (19, 55), "apparel", ["polyester", "nylon"],
         "a built-in liner and a zip phone pocket", "内置衬裤，拉链手机袋"),
    ], ["Summit", "Flexa", "Trailhead", "Apex Motion"]),
    "kids": ("母婴童装", [
        ("kids' raincoat", "儿童雨衣", "kids clothing", "童装", (25, 59), "kids", ["polyester", "nylon"],
         "reflective strips and a detachable hood", "反光条设计，兜帽可拆"),
        ("building blocks set", "积木套装", "toys", "玩具", (19, 89), "none", ["plastic", "wood"],
         "300 pieces compatible with major brands", "300块，兼容主流品牌"),
        ("baby carrier", "婴儿背带", "baby gear", "婴儿用品", (49, 159), "none", ["cotton", "mesh"],
         "four carry positions for 3.5 to 15 kg", "四种背法，适合3.5至15公斤"),
        ("plush toy", "毛绒玩具", "toys", "玩具", (12, 39), "none", ["polyester", "cotton"],
         "embroidered eyes that are safe from birth", "刺绣眼睛，新生儿可用"),
    ], ["Little Fern", "Pebble", "Tumbletot"]),
    "pets": ("宠物用品", [
        ("dog bed", "狗窝", "beds", "宠物床", (29, 119), "pet", ["polyester", "cotton"],
         "a removable, machine-washable cover", "外罩可拆，可机洗"),
        ("cat scratching post", "猫抓柱", "furniture", "宠物家具", (25, 99), "none", ["wood", "canvas"],
         "sisal wrapping and a weighted base", "剑麻缠绕，底座加重"),
        ("dog leash", "狗绳", "walking", "出行", (12, 39), "pet", ["nylon", "leather"],
         "a padded handle and reflective stitching", "手柄加垫，反光缝线"),
        ("pet water fountain", "宠物饮水机", "feeding", "喂食", (25, 69), "none", ["stainless steel", "plastic"],
         "a triple filter and a quiet pump", "三重过滤，静音水泵"),
    ], ["Pawsome", "Whisker & Wag", "Furrow"]),
    "stationery": ("文具", [
        ("notebook", "笔记本", "paper", "纸品", (8, 29), "none", ["canvas", "leather"],
         "160 pages of 100 gsm dotted paper", "160页100克点阵纸"),
        ("fountain pen", "钢笔", "writing", "书写工具", (19, 149), "none", ["stainless steel", "aluminium"],
         "a medium steel nib and a converter", "中号钢笔尖，附上墨器"),
        ("desk organiser", "桌面收纳盒", "desk", "桌面用品", (15, 59), "none", ["bamboo", "wood"],
         "five compartments and a phone stand", "五个隔层，带手机支架"),
        ("planner 2027", "2027计划本", "paper", "纸品", (12, 35), "none", ["leather", "canvas"],
         "weekly spreads and monthly goals pages", "周计划页和月目标页"),
    ], ["Inkwell", "Papyra", "Margin"]),
    "jewelry": ("珠宝腕表", [
        ("pendant necklace", "吊坠项链", "necklaces", "项链", (29, 199), "none", ["stainless steel", "silk"],
         "a 45 cm chain with a 5 cm extender", "45厘米链长，附5厘米延长链"),
        ("stud earrings", "耳钉", "earrings", "耳饰", (19, 129), "none", ["stainless steel"],
         "hypoallergenic posts", "防过敏耳针"),
        ("analog watch", "指针腕表", "watches", "腕表", (79, 349), "none", ["stainless steel", "leather"],
         "sapphire crystal and 50 m water resistance", "蓝宝石镜面，50米防水"),
        ("charm bracelet", "串珠手链", "bracelets", "手链", (25, 99), "none", ["silk", "stainless steel"],
         "an adjustable sliding clasp", "可调节滑扣"),
    ], ["Aurelia", "Solstice", "Carat & Co"]),
}  # fmt: skip
PRODUCTS_PER_CATEGORY = 36
# Complementary categories for "bought together" links.
COMPLEMENTS = {
    "apparel": ["shoes", "bags", "jewelry"], "shoes": ["apparel", "sports"],
    "bags": ["apparel", "stationery", "electronics"], "electronics": ["electronics", "bags"],
    "home": ["home", "kitchen"], "kitchen": ["kitchen", "home"], "beauty": ["beauty", "jewelry"],
    "sports": ["shoes", "apparel", "kitchen"], "kids": ["kids", "home"], "pets": ["pets", "home"],
    "stationery": ["stationery", "bags"], "jewelry": ["jewelry", "beauty"],
}  # fmt: skip


def price(rng: random.Random, low: int, high: int) -> float:
    """Shop-style prices ending in .99 or .00."""
    base = rng.randint(low, high)
    return float(base) if rng.random() < 0.2 else base - 0.01


def build_catalog(rng: random.Random) -> list[dict]:
    products: list[dict] = []
    for category, (category_zh, types, brands) in CATEGORIES.items():
        for index in range(PRODUCTS_PER_CATEGORY):
            (type_en, type_zh, sub_en, sub_zh, (low, high), size_kind, materials, feat_en, feat_zh) = types[
                index % len(types)
            ]
            brand = brands[(index // len(types) + index) % len(brands)]
            adj_en, adj_zh = ADJECTIVES[rng.randrange(len(ADJECTIVES))]
            colour_en, colour_zh = COLOURS[rng.randrange(len(COLOURS))]
            material = materials[rng.randrange(len(materials))]
            sizes = {
                "apparel": APPAREL_SIZES, "shoe": SHOE_SIZES, "kids": ["2-3Y", "4-5Y", "6-7Y", "8-9Y"],
                "bed": ["single", "double", "queen", "king"], "pet": ["S", "M", "L"],
            }.get(size_kind, [])  # fmt: skip
            product_id = f"P{len(products) + 1:04d}"
            stock_roll = rng.random()
            stock = (
                0 if stock_roll < 0.08 else rng.randint(1, 9) if stock_roll < 0.25 else rng.randint(10, 400)
            )
            title_en = f"{brand} {adj_en} {type_en} in {colour_en} {material}"
            title_zh = f"{brand} {adj_zh}{colour_zh}{MATERIALS[material]}{type_zh}"
            attrs: dict[str, object] = {"colour": colour_en, "material": material}
            if sizes:
                attrs["sizes"] = sizes
            weight = round(0.2 + low / 60 + rng.random() * 0.3, 1)
            article = "An" if adj_en[0] in "AEIOU" else "A"
            desc_en = (
                f"{article} {adj_en.lower()} {type_en} from {brand} in {colour_en}, made of {material}, with "
                f"{feat_en}. Ships in one parcel of about {weight} kg."
            )
            desc_zh = (
                f"{brand}{adj_zh}{type_zh}，{colour_zh}，{MATERIALS[material]}材质，{feat_zh}。"
                f"单件包裹约{weight}公斤。"
            )
            if sizes:
                desc_en += f" Sizes: {', '.join(sizes)}."
                desc_zh += f"尺码：{'、'.join(sizes)}。"
            products.append({
                "id": product_id,
                "title": {"en": title_en, "zh": title_zh},
                "description": {"en": desc_en, "zh": desc_zh},
                "brand": brand,
                "category": [category, sub_en],
                "category_name": {"en": f"{category} > {sub_en}", "zh": f"{category_zh} > {sub_zh}"},
                "product_type": {"en": type_en, "zh": type_zh},
                "price": price(rng, low, high),
                "currency": CURRENCY,
                "attributes": attrs,
                "rating": round(rng.uniform(3.1, 4.9), 1),
                "review_count": int(rng.paretovariate(1.3) * 8),
                "stock": stock,
                "image": None,
                "bought_together": [],
            })  # fmt: skip
    by_category: dict[str, list[dict]] = {}
    for product in products:
        by_category.setdefault(product["category"][0], []).append(product)
    for product in products:
        pool = [
            p
            for c in COMPLEMENTS[product["category"][0]]
            for p in by_category[c]
            if p["id"] != product["id"] and p["product_type"] != product["product_type"]
        ]
        product["bought_together"] = sorted(p["id"] for p in rng.sample(pool, rng.randint(2, 4)))
    return products


# ----------------------------------------------------------------------------------------------
# Knowledge: FAQ / policy passages. Every number here is a fact answers must reproduce exactly.
# ----------------------------------------------------------------------------------------------
SHIPPING_REGIONS = [
    # (key, en, zh, standard days, express days, standard fee, free over)
    ("us", "the United States", "美国", "3-5", "1-2", "$5.99", "$49"),
    ("ca", "Canada", "加拿大", "5-8", "2-3", "$9.99", "$79"),
    ("uk", "the United Kingdom", "英国", "6-9", "3-4", "$12.99", "$99"),
    ("eu", "the European Union", "欧盟国家", "6-10", "3-5", "$12.99", "$99"),
    ("cn", "mainland China", "中国大陆", "7-12", "4-6", "$14.99", "$129"),
    ("hk", "Hong Kong and Macau", "港澳地区", "5-8", "2-4", "$9.99", "$79"),
    ("tw", "Taiwan", "台湾地区", "6-9", "3-4", "$11.99", "$99"),
    ("jp", "Japan and South Korea", "日本和韩国", "6-9", "3-4", "$11.99", "$99"),
    ("sg", "Singapore and Malaysia", "新加坡和马来西亚", "7-10", "3-5", "$12.99", "$99"),
    ("au", "Australia and New Zealand", "澳大利亚和新西兰", "8-12", "4-6", "$15.99", "$129"),
]  # fmt: skip
RETURN_WINDOWS = {
    # category -> (days, condition en, condition zh)
    "apparel": (30, "unworn, unwashed and with the tags attached", "未穿着、未洗涤且吊牌完好"),
    "shoes": (30, "unworn, in the original box", "未穿着且原鞋盒完好"),
    "bags": (30, "unused, with the dust bag and tags", "未使用，防尘袋和吊牌齐全"),
    "electronics": (15, "with all accessories and the original packaging", "配件齐全且原包装完好"),
    "home": (30, "unused and in the original packaging", "未使用且原包装完好"),
    "kitchen": (30, "unused; knives only if the safety sleeve is intact", "未使用；刀具需安全护套完好"),
    "beauty": (14, "unopened, with the seal intact", "未开封且封口完好"),
    "sports": (30, "unused, with tags; tents must be dry and complete", "未使用且吊牌完好；帐篷需干燥且配件齐全"),
    "kids": (30, "unused; soft toys only if unopened", "未使用；毛绒玩具需未拆封"),
    "pets": (30, "unused and clean", "未使用且保持清洁"),
    "stationery": (30, "unused, with no writing in it", "未使用且无书写痕迹"),
    "jewelry": (30, "unworn; earrings only if the hygiene seal is intact", "未佩戴；耳饰需卫生封条完好"),
}  # fmt: skip
WARRANTY_MONTHS = {
    "apparel": 6, "shoes": 6, "bags": 12, "electronics": 24, "home": 12, "kitchen": 24,
    "beauty": 0, "sports": 12, "kids": 12, "pets": 12, "stationery": 12, "jewelry": 24,
}  # fmt: skip
PROMOTIONS = [
    # (code, percent, min spend, valid until, en condition, zh condition)
    ("WELCOME10", "10%", "$30", "2026-12-31", "on your first order", "限首单使用"),
    ("WINTER15", "15%", "$80", "2027-01-31", "on outerwear and knitwear", "适用于外套和针织品"),
    ("FREESHIP", "free standard shipping", "$25", "2026-12-15", "to the United States and Canada",
     "限寄往美国和加拿大"),
    ("STUDENT15", "15%", "$0", "2027-06-30", "for verified students, once a month", "限认证学生，每月一次"),
    ("BUNDLE20", "20%", "$150", "2026-12-24", "when you buy three or more items", "购买三件及以上"),
    ("PETS5", "$5 off", "$40", "2026-12-31", "on pet supplies", "适用于宠物用品"),
]  # fmt: skip
SIZE_CHARTS = [
    ("tops", "上衣", "chest", "胸围", {"XS": "82-86", "S": "87-92", "M": "93-98", "L": "99-105",
                                      "XL": "106-113", "XXL": "114-121"}),
    ("jeans and trousers", "牛仔裤和长裤", "waist", "腰围", {"XS": "64-68", "S": "69-74", "M": "75-80",
                                                       "L": "81-87", "XL": "88-95", "XXL": "96-104"}),
    ("outerwear", "外套", "chest", "胸围", {"XS": "84-88", "S": "89-94", "M": "95-100", "L": "101-107",
                                          "XL": "108-115", "XXL": "116-123"}),
    ("kids' clothing", "童装", "height", "身高", {"2-3Y": "92-98", "4-5Y": "104-110", "6-7Y": "116-122",
                                                 "8-9Y": "128-134"}),
    ("dog beds and leashes", "狗窝和狗绳", "dog length", "狗狗体长", {"S": "up to 50", "M": "51-75",
                                                              "L": "76-100"}),
]  # fmt: skip
SHOE_FOOT_LENGTH = {"36": "23.0", "37": "23.5", "38": "24.0", "39": "24.5", "40": "25.0", "41": "25.5",
                    "42": "26.5", "43": "27.0", "44": "27.5", "45": "28.5", "46": "29.0"}  # fmt: skip
CARE = [
    ("cotton", "Machine wash at 30°C inside out and tumble dry low.", "30°C反面机洗，低温烘干。"),
    ("wool", "Hand wash cold with wool detergent and dry flat.", "使用羊毛洗涤剂冷水手洗，平铺晾干。"),
    ("cashmere", "Hand wash at 20°C or dry clean; store folded with cedar.", "20°C手洗或干洗；折叠存放，可放雪松木。"),
    ("down", "Machine wash at 30°C on a gentle cycle and tumble dry with dryer balls.",
     "30°C轻柔模式机洗，与烘干球一起烘干。"),
    ("leather", "Wipe with a damp cloth and condition every 3 months.", "用湿布擦拭，每3个月保养一次。"),
    ("silk", "Hand wash cold or dry clean; never wring.", "冷水手洗或干洗，切勿拧干。"),
    ("linen", "Machine wash at 40°C and iron while damp.", "40°C机洗，半干时熨烫。"),
    ("suede", "Brush dry dirt away and use a suede protector spray.", "用麂皮刷清除干燥污渍，使用麂皮防护喷雾。"),
    ("stainless steel", "Dishwasher safe, but hand washing keeps knives sharp longer.",
     "可用洗碗机，但手洗能让刀具更持久锋利。"),
]  # fmt: skip


def passage(pid: str, topic: str, title: tuple[str, str], text: tuple[str, str], facts: dict) -> list[dict]:
    return [
        {"id": f"{pid}-{lang}", "group": pid, "language": lang, "topic": topic, "title": title[i],
         "text": text[i], "facts": facts}
        for i, lang in enumerate(("en", "zh"))
    ]  # fmt: skip


def build_knowledge() -> list[dict]:
    out: list[dict] = []
    for key, en, zh, std, exp, fee, free in SHIPPING_REGIONS:
        out += passage(
            f"KB-SHIP-{key.upper()}", "shipping",
            (f"Shipping to {en}", f"寄往{zh}的配送"),
            (f"Standard delivery to {en} takes {std} business days and costs {fee}; it is free on orders "
             f"over {free}. Express delivery takes {exp} business days and costs $19.99 on any order.",
             f"寄往{zh}的标准配送需{std}个工作日，运费{fee}；订单满{free}免运费。"
             f"快递配送需{exp}个工作日，任何订单运费均为$19.99。"),
            {"standard_days": std, "express_days": exp, "standard_fee": fee, "free_over": free,
             "express_fee": "$19.99"},
        )  # fmt: skip
    general_shipping = [
        ("KB-SHIP-DISPATCH", "When orders ship", "订单发货时间",
         "Orders placed before 2 pm (shop time) on a business day ship the same day; later orders ship the next "
         "business day. You get an email with the tracking number when the parcel leaves our warehouse.",
         "工作日下午2点（店铺时间）前下单当天发货，之后下单次个工作日发货。包裹离开仓库时会邮件通知您物流单号。",
         {"cutoff": "2 pm"}),
        ("KB-SHIP-TRACK", "Tracking a parcel", "查询物流",
         "Tracking numbers become active within 24 hours of dispatch. Open the link in your shipping email or "
         "enter the number on the carrier's site; our carriers are UPS, DHL, SF Express and USPS.",
         "发货后24小时内物流单号生效。点击发货邮件中的链接或在承运商网站输入单号查询；我们的承运商有UPS、DHL、顺丰和USPS。",
         {"activation_hours": "24"}),
        ("KB-SHIP-LATE", "A parcel is late", "包裹延误",
         "If a parcel is more than 5 business days past its estimated delivery date, contact us and we will open an "
         "investigation with the carrier and send a replacement or a full refund within 10 business days.",
         "如果包裹超过预计送达日期5个工作日仍未送达，请联系我们，我们会向承运商发起调查，并在10个工作日内补发或全额退款。",
         {"late_after_days": "5", "resolution_days": "10"}),
        ("KB-SHIP-SPLIT", "Orders in several parcels", "订单分批发货",
         "Items from different warehouses may arrive in separate parcels at no extra cost; each parcel has its own "
         "tracking number.",
         "来自不同仓库的商品可能分多个包裹送达，不另收费；每个包裹都有单独的物流单号。", {}),
        ("KB-SHIP-PO", "PO boxes and parcel lockers", "邮政信箱和快递柜",
         "We deliver to PO boxes with standard delivery only; express parcels need a street address. Parcel lockers "
         "are supported in the United States and the European Union.",
         "邮政信箱仅支持标准配送，快递配送需填写街道地址。美国和欧盟支持快递柜收货。", {}),
        ("KB-SHIP-CUSTOMS", "Customs and import duties", "关税与进口税",
         "Prices include duties for the United States, Canada and the European Union. For other destinations, "
         "import duties are collected by the carrier on delivery.",
         "寄往美国、加拿大和欧盟的订单价格已含关税。寄往其他地区的订单，进口税由承运商在派送时收取。", {}),
    ]  # fmt: skip
    for pid, t_en, t_zh, x_en, x_zh, facts in general_shipping:
        out += passage(pid, "shipping", (t_en, t_zh), (x_en, x_zh), facts)
    for category, (days, cond_en, cond_zh) in RETURN_WINDOWS.items():
        zh_name = CATEGORIES[category][0]
        out += passage(
            f"KB-RET-{category.upper()}", "returns",
            (f"Returning {category}", f"{zh_name}退货"),
            (f"{category.capitalize()} can be returned within {days} days of delivery if {cond_en}. "
             "Start the return in the chat or under Orders; we email a prepaid label.",
             f"{zh_name}类商品可在签收后{days}天内退货，要求{cond_zh}。可在聊天中或“我的订单”里发起退货，我们会邮件发送预付运单。"),
            {"window_days": str(days)},
        )  # fmt: skip
    general_returns = [
        ("KB-RET-FEE", "Return shipping fee", "退货运费",
         "Returns are free when the item is faulty or we sent the wrong item. For any other reason a return label "
         "costs $4.95, deducted from the refund. Exchanges for another size are always free.",
         "商品有质量问题或发错货时退货免费。其他原因退货需支付$4.95运单费，从退款中扣除。换尺码始终免费。",
         {"label_fee": "$4.95"}),
        ("KB-RET-REFUND", "When refunds arrive", "退款到账时间",
         "We refund within 2 business days of the return reaching our warehouse. The money reaches your card or "
         "PayPal in 5-7 business days, or Alipay and WeChat Pay in 1-3 business days.",
         "退货到达仓库后2个工作日内我们会办理退款。退回银行卡或PayPal需5-7个工作日，退回支付宝和微信支付需1-3个工作日。",
         {"processing_days": "2", "card_days": "5-7", "wallet_days": "1-3"}),
        ("KB-RET-EXCHANGE", "Exchanges", "换货",
         "To exchange for another size or colour, start a return and choose exchange; the new item ships as soon "
         "as the carrier scans your return.",
         "如需换尺码或颜色，请发起退货并选择换货；承运商扫描您的退货包裹后，新商品即会发出。", {}),
        ("KB-RET-FINAL", "Items that cannot be returned", "不可退货商品",
         "Gift cards, engraved items and opened beauty products cannot be returned unless they are faulty.",
         "礼品卡、刻字商品和已开封的美妆产品不可退货，质量问题除外。", {}),
        ("KB-RET-DAMAGED", "Damaged or wrong items", "商品损坏或发错货",
         "If an item arrives damaged or is not what you ordered, tell us within 7 days of delivery with a photo; "
         "we send a replacement or a refund and you keep or return the item for free.",
         "如果商品到货时损坏或与订单不符，请在签收后7天内附照片联系我们；我们会补发或退款，商品可免费退回或自行保留。",
         {"report_days": "7"}),
        ("KB-RET-GIFT", "Returning a gift", "礼物退货",
         "Gifts can be returned with the order number; the refund goes to a gift card in the recipient's name.",
         "礼物可凭订单号退货，退款将以礼品卡形式发放给收礼人。", {}),
    ]  # fmt: skip
    for pid, t_en, t_zh, x_en, x_zh, facts in general_returns:
        out += passage(pid, "returns", (t_en, t_zh), (x_en, x_zh), facts)
    for category, months in WARRANTY_MONTHS.items():
        zh_name = CATEGORIES[category][0]
        if months:
            text = (
                f"{category.capitalize()} carry a {months}-month warranty against manufacturing defects from the "
                "delivery date. Send us the order number and a photo or video of the fault to claim it.",
                f"{zh_name}类商品自签收之日起享有{months}个月的制造缺陷保修。申请保修请提供订单号及故障照片或视频。",
            )
        else:
            text = (
                f"{category.capitalize()} have no warranty, but faulty items can be returned within 14 days.",
                f"{zh_name}类商品不提供保修，但有质量问题可在14天内退货。",
            )
        out += passage(f"KB-WAR-{category.upper()}", "warranty", (f"Warranty for {category}", f"{zh_name}保修"),
                       text, {"warranty_months": str(months)})  # fmt: skip
    payments = [
        ("KB-PAY-METHODS", "Payment methods", "支付方式",
         "We accept Visa, Mastercard, American Express, PayPal, Apple Pay, Alipay, WeChat Pay and Lumen Lane gift "
         "cards.", "我们接受Visa、万事达卡、美国运通、PayPal、Apple Pay、支付宝、微信支付和流明小巷礼品卡。", {}),
        ("KB-PAY-DECLINED", "A declined card", "银行卡被拒",
         "If a card is declined, check the billing postcode and the card's expiry date, then try again. After 3 "
         "failed attempts checkout locks for 30 minutes; your bank can tell you why it declined.",
         "银行卡被拒时，请核对账单邮编和有效期后重试。连续失败3次后结账将锁定30分钟；拒付原因可咨询您的发卡银行。",
         {"attempts": "3", "lock_minutes": "30"}),
        ("KB-PAY-PENDING", "Pending or double charges", "待处理或重复扣款",
         "A failed or cancelled payment can show as a pending charge; it drops off within 3-5 business days "
         "without any action from you.", "支付失败或取消后可能显示为待处理扣款，3-5个工作日内会自动消失，无需您操作。",
         {"pending_days": "3-5"}),
        ("KB-PAY-INSTALMENTS", "Paying in instalments", "分期付款",
         "Orders from $50 to $1,000 can be paid in 4 interest-free instalments every 2 weeks.",
         "$50至$1,000的订单可分4期免息付款，每2周一期。", {"min": "$50", "max": "$1,000", "instalments": "4"}),
        ("KB-PAY-GIFTCARD", "Gift cards", "礼品卡",
         "Gift cards come in values from $10 to $500, are valid for 3 years and can be combined with one promo code.",
         "礼品卡面值$10至$500，有效期3年，可与一个优惠码叠加使用。", {"validity_years": "3"}),
        ("KB-PAY-INVOICE", "Invoices and VAT receipts", "发票与增值税收据",
         "An invoice is emailed when the order ships. For a company invoice, add the company name and tax number "
         "within 30 days of the order.", "订单发货时会邮件发送发票。如需公司抬头发票，请在下单后30天内提供公司名称和税号。",
         {"invoice_days": "30"}),
        ("KB-PAY-CURRENCY", "Currency", "币种",
         "All prices are in US dollars. Cards in other currencies are charged at your bank's exchange rate.",
         "所有价格均以美元计价。使用其他币种的银行卡将按发卡行汇率扣款。", {}),
        ("KB-PAY-PRICEMATCH", "Price adjustments", "价格调整",
         "If an item you bought drops in price within 7 days, we refund the difference once per item.",
         "购买后7天内商品降价，可申请退还差价，每件商品限一次。", {"days": "7"}),
    ]  # fmt: skip
    for pid, t_en, t_zh, x_en, x_zh, facts in payments:
        out += passage(pid, "payment", (t_en, t_zh), (x_en, x_zh), facts)
    for code, value, minimum, until, cond_en, cond_zh in PROMOTIONS:
        min_en = "" if minimum == "$0" else f" on orders over {minimum}"
        min_zh = "" if minimum == "$0" else f"订单满{minimum}可用，"
        out += passage(
            f"KB-PROMO-{code}", "promotions", (f"Promo code {code}", f"优惠码{code}"),
            (f"Code {code} gives {value}{min_en} {cond_en}, valid until {until}. One code per order.",
             f"优惠码{code}：{min_zh}{cond_zh}，优惠{value}，有效期至{until}。每笔订单限用一个优惠码。"),
            {"code": code, "value": value, "min_spend": minimum, "valid_until": until},
        )  # fmt: skip
    out += passage("KB-PROMO-POINTS", "promotions", ("Loyalty points", "会员积分"),
                   ("You earn 1 point per $1 spent; 100 points are worth $5 at checkout. Points expire after 12 months.",
                    "每消费$1获得1积分；100积分在结账时可抵$5。积分有效期12个月。"),
                   {"points_per_dollar": "1", "redeem": "100 points = $5", "expiry_months": "12"})  # fmt: skip
    out += passage("KB-PROMO-BIRTHDAY", "promotions", ("Birthday reward", "生日礼遇"),
                   ("Members get a 20% birthday code by email, valid for 30 days.",
                    "会员生日当月会收到20%优惠码邮件，有效期30天。"), {"value": "20%", "days": "30"})  # fmt: skip
    for name, name_zh, measure, measure_zh, chart in SIZE_CHARTS:
        unit = "kg" if False else "cm"
        rows_en = "; ".join(f"{size}: {span} {unit}" for size, span in chart.items())
        rows_zh = "；".join(f"{size}：{span}{'厘米'}" for size, span in chart.items())
        rows_zh = rows_zh.replace("up to 50厘米", "50厘米以内")
        out += passage(
            f"KB-SIZE-{name.split()[0].upper().replace(chr(39), '')}", "sizing",
            (f"Size chart for {name}", f"{name_zh}尺码表"),
            (f"Sizes for {name} by {measure}: {rows_en}. Between two sizes, take the larger one.",
             f"{name_zh}按{measure_zh}选码：{rows_zh}。介于两个尺码之间时请选大一码。"),
            {size: span for size, span in chart.items()},
        )  # fmt: skip
    rows_en = "; ".join(f"EU {s}: {cm} cm" for s, cm in SHOE_FOOT_LENGTH.items())
    rows_zh = "；".join(f"欧码{s}：{cm}厘米" for s, cm in SHOE_FOOT_LENGTH.items())
    out += passage("KB-SIZE-SHOES", "sizing", ("Shoe size chart", "鞋码表"),
                   (f"Shoe sizes by foot length: {rows_en}. Running shoes fit true to size; boots run half a size "
                    "large.", f"按脚长选鞋码：{rows_zh}。跑步鞋尺码标准；靴子偏大半码。"),
                   {f"EU {s}": cm for s, cm in SHOE_FOOT_LENGTH.items()})  # fmt: skip
    out += passage("KB-SIZE-MEASURE", "sizing", ("How to measure yourself", "如何测量尺寸"),
                   ("Measure your chest at the fullest point and your waist at the narrowest point with a soft tape; "
                    "for shoes, measure your foot from heel to longest toe in the evening.",
                    "用软尺测量胸部最丰满处和腰部最细处；测量脚长请在傍晚从脚跟量到最长脚趾。"), {})  # fmt: skip
    account = [
        ("KB-ACC-PASSWORD", "Resetting a password", "重置密码",
         "Use 'Forgot password' on the sign-in page; the reset link is valid for 24 hours.",
         "在登录页点击“忘记密码”；重置链接24小时内有效。", {"link_hours": "24"}),
        ("KB-ACC-EMAIL", "Changing your email", "更改邮箱",
         "Change your email under Account > Profile; we send a confirmation link to the new address, valid for 48 "
         "hours.", "在“账户>个人资料”中更改邮箱；我们会向新邮箱发送确认链接，48小时内有效。", {"link_hours": "48"}),
        ("KB-ACC-2FA", "Two-step sign-in", "两步验证",
         "Turn on two-step sign-in under Account > Security with an authenticator app or SMS codes.",
         "在“账户>安全”中开启两步验证，可使用身份验证器应用或短信验证码。", {}),
        ("KB-ACC-DELETE", "Deleting your account", "注销账户",
         "Ask us to delete your account and we erase it within 30 days; order records we must keep for tax law "
         "are kept for 7 years.", "申请注销后我们会在30天内删除您的账户；依税法须保留的订单记录将保存7年。",
         {"erase_days": "30", "tax_years": "7"}),
        ("KB-ACC-GUEST", "Guest checkout", "游客结账",
         "You can order without an account; use the order number and email to track it or to start a return.",
         "无需注册即可下单；凭订单号和邮箱即可查询订单或发起退货。", {}),
        ("KB-ACC-NEWSLETTER", "Newsletter", "订阅邮件",
         "Unsubscribe with the link at the bottom of any email; it takes effect within 2 days.",
         "点击任意邮件底部的链接即可退订，2天内生效。", {"days": "2"}),
    ]  # fmt: skip
    for pid, t_en, t_zh, x_en, x_zh, facts in account:
        out += passage(pid, "account", (t_en, t_zh), (x_en, x_zh), facts)
    privacy = [
        ("KB-PRIV-DATA", "What data we keep", "我们保存的数据",
         "We keep your name, addresses, orders and support chats. Chat transcripts are kept for 24 months, with "
         "card numbers and passwords removed.", "我们保存您的姓名、地址、订单和客服聊天记录。聊天记录保存24个月，银行卡号和密码会被删除。",
         {"chat_months": "24"}),
        ("KB-PRIV-EXPORT", "Getting a copy of your data", "获取个人数据副本",
         "Request a copy of your data in the chat or by email; we send it within 30 days.",
         "可在聊天中或通过邮件申请数据副本，我们会在30天内发送。", {"days": "30"}),
        ("KB-PRIV-COOKIES", "Cookies", "Cookie设置",
         "Change cookie choices any time with the Cookie settings link in the page footer.",
         "可随时通过页面底部的“Cookie设置”链接更改选择。", {}),
        ("KB-PRIV-SHARING", "Who we share data with", "数据共享对象",
         "We share your address only with the carrier delivering your parcel and your payment details only with "
         "the payment provider. We never sell personal data.", "我们仅向负责派送的承运商提供您的地址，仅向支付服务商提供支付信息。我们绝不出售个人数据。",
         {}),
        ("KB-PRIV-VERIFY", "Why we check who you are", "为什么需要验证身份",
         "Before we share or change order details we ask for the order number and the email or postcode on the "
         "order, so nobody else can see your orders.", "在查询或修改订单前，我们会请您提供订单号以及下单邮箱或邮编，以防他人查看您的订单。",
         {}),
    ]  # fmt: skip
    for pid, t_en, t_zh, x_en, x_zh, facts in privacy:
        out += passage(pid, "privacy", (t_en, t_zh), (x_en, x_zh), facts)
    orders = [
        ("KB-ORD-CANCEL", "Cancelling an order", "取消订单",
         "You can cancel an order until it ships, usually within 2 hours of placing it. Once shipped, return it "
         "instead; refunds for cancelled orders take 1-3 business days to process.",
         "订单发货前均可取消，通常为下单后2小时内。已发货的订单请改为退货；取消订单的退款需1-3个工作日处理。",
         {"window_hours": "2", "refund_days": "1-3"}),
        ("KB-ORD-ADDRESS", "Changing the delivery address", "修改收货地址",
         "The delivery address can be changed until the order ships. After dispatch, ask the carrier to redirect "
         "it with the tracking number.", "订单发货前可修改收货地址。发货后请凭物流单号联系承运商改派。", {}),
        ("KB-ORD-MODIFY", "Changing items in an order", "修改订单商品",
         "Items cannot be added to a placed order; cancel it within 2 hours and order again, or place a second order.",
         "已下单的订单无法添加商品；可在2小时内取消后重新下单，或另行下单。", {"window_hours": "2"}),
        ("KB-ORD-STATUS", "What order statuses mean", "订单状态说明",
         "Placed: we have your order. Shipped: it left our warehouse and has a tracking number. Delivered: the "
         "carrier confirmed delivery. Returned: we received your return. Refunded: the money is on its way back.",
         "已下单：我们已收到订单。已发货：包裹已离开仓库并有物流单号。已签收：承运商确认送达。已退货：我们已收到退货。已退款：款项正在退回。",
         {}),
        ("KB-ORD-PREORDER", "Out-of-stock items and restocks", "缺货与补货",
         "Out-of-stock items usually restock within 2-3 weeks. Use 'Notify me' on the product page to get an email.",
         "缺货商品通常会在2-3周内补货。可在商品页点击“到货通知”接收邮件提醒。", {"restock_weeks": "2-3"}),
        ("KB-ORD-GIFTWRAP", "Gift wrapping", "礼品包装",
         "Gift wrapping with a handwritten card costs $3.50 per item; prices are hidden on the packing slip.",
         "礼品包装含手写贺卡，每件$3.50；装箱单不显示价格。", {"fee": "$3.50"}),
    ]  # fmt: skip
    for pid, t_en, t_zh, x_en, x_zh, facts in orders:
        out += passage(pid, "orders", (t_en, t_zh), (x_en, x_zh), facts)
    for material, care_en, care_zh in CARE:
        out += passage(f"KB-CARE-{material.upper().replace(' ', '')}", "care",
                       (f"Caring for {material}", f"{MATERIALS[material]}护理"),
                       (f"{material.capitalize()}: {care_en}", f"{MATERIALS[material]}：{care_zh}"), {})  # fmt: skip
    service = [
        ("KB-SVC-HOURS", "Customer service hours", "客服时间",
         "Our agents answer chat and phone from 8:00 to 20:00 (shop time) every day; emails get a reply within 24 "
         "hours.", "人工客服每天8:00至20:00（店铺时间）提供在线和电话服务；邮件24小时内回复。",
         {"hours": "8:00 to 20:00", "email_hours": "24"}),
        ("KB-SVC-CONTACT", "Contacting a person", "联系人工客服",
         "Ask for a human in this chat at any time and an agent joins, usually within 5 minutes during opening "
         "hours. You can also call +1 555 0100.", "在本聊天中随时可以要求转人工，营业时间内通常5分钟内有客服接入。也可拨打+1 555 0100。",
         {"wait_minutes": "5", "phone": "+1 555 0100"}),
        ("KB-SVC-COMPLAINT", "Making a complaint", "投诉处理",
         "A team lead reviews every complaint and replies within 2 business days.",
         "每一条投诉都会由组长审核，并在2个工作日内回复。", {"reply_days": "2"}),
    ]  # fmt: skip
    for pid, t_en, t_zh, x_en, x_zh, facts in service:
        out += passage(pid, "service", (t_en, t_zh), (x_en, x_zh), facts)
    return out


# ----------------------------------------------------------------------------------------------
# Store records: customers and orders. Names, emails and addresses are invented; emails use the
# reserved example.com / example.cn domains.
# ----------------------------------------------------------------------------------------------
FIRST_EN = (
    "Olivia Liam Emma Noah Ava Elijah Sophia James Isabella Lucas Mia Mason Amelia Ethan Harper "
    "Logan Evelyn Aiden Abigail Jacob Emily Owen Ella Wyatt Grace Leo Chloe Jack Zoe Henry Nora "
    "Sebastian Lily Mateo Hannah Daniel Aria Samuel Layla David Maya Omar Priya Ravi Fatima Diego"
).split()
LAST_EN = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Young "
    "Allen King Wright Scott Nguyen Hill Adams Baker Nelson Carter Mitchell Patel Kim"
).split()
FAMILY_ZH = [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
             ("赵", "zhao"), ("黄", "huang"), ("周", "zhou"), ("吴", "wu"), ("徐", "xu"), ("孙", "sun"),
             ("胡", "hu"), ("朱", "zhu"), ("高", "gao"), ("林", "lin"), ("何", "he"), ("郭", "guo")]  # fmt: skip
GIVEN_ZH = [("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
            ("强", "qiang"), ("磊", "lei"), ("洋", "yang"), ("艳", "yan"), ("勇", "yong"), ("杰", "jie"),
            ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀英", "xiuying"), ("佳怡", "jiayi"),
            ("子涵", "zihan"), ("浩然", "haoran"), ("欣怡", "xinyi"), ("宇轩", "yuxuan")]  # fmt: skip
CITIES_EN = [("Portland", "OR", "97205", "us"), ("Austin", "TX", "78701", "us"), ("Denver", "CO", "80202", "us"),
             ("Boston", "MA", "02108", "us"), ("Seattle", "WA", "98101", "us"), ("Chicago", "IL", "60601", "us"),
             ("Toronto", "ON", "M5V 2T6", "ca"), ("Vancouver", "BC", "V6B 1A1", "ca"),
             ("London", "", "SW1A 1AA", "uk"), ("Manchester", "", "M1 1AE", "uk"),
             ("Berlin", "", "10115", "eu"), ("Dublin", "", "D02 X285", "eu"), ("Sydney", "NSW", "2000", "au"),
             ("Singapore", "", "018956", "sg")]  # fmt: skip
CITIES_ZH = [("上海", "", "200001", "cn"), ("北京", "", "100010", "cn"), ("深圳", "", "518000", "cn"),
             ("杭州", "", "310000", "cn"), ("成都", "", "610000", "cn"), ("广州", "", "510000", "cn"),
             ("香港", "", "999077", "hk"), ("台北", "", "100", "tw"), ("新加坡", "", "238801", "sg"),
             ("Vancouver", "BC", "V6X 1Z1", "ca"), ("San Francisco", "CA", "94108", "us")]  # fmt: skip
STREETS_EN = ["Maple Street", "Oak Avenue", "Harbor Road", "Elm Court", "Pine Lane", "Cedar Way", "Lake Drive",
              "Hill Street", "Park Row", "River Road"]  # fmt: skip
STREETS_ZH = ["南京路", "长安街", "深南大道", "文三路", "人民南路", "中山路", "淮海路", "建国路"]
CARRIERS = {"us": "UPS", "ca": "UPS", "uk": "DHL", "eu": "DHL", "cn": "SF Express", "hk": "SF Express",
            "tw": "SF Express", "sg": "DHL", "au": "DHL", "jp": "DHL"}  # fmt: skip
NOW = datetime(2026, 11, 20, 12, 0)  # the demo shop's "now": logs and order dates agree with it
TODAY = NOW.date()
N_CUSTOMERS = 320
N_ORDERS = 1600


def build_customers(rng: random.Random) -> list[dict]:
    customers, emails = [], set()
    for index in range(N_CUSTOMERS):
        is_zh = index % 10 < 4  # 40 % of customers write in Chinese
        if is_zh:
            (family, family_py), (given, given_py) = rng.choice(FAMILY_ZH), rng.choice(GIVEN_ZH)
            name, local, domain = family + given, f"{given_py}.{family_py}", "example.cn"
            city, region, postcode, country = rng.choice(CITIES_ZH)
            street = (
                f"{rng.choice(STREETS_ZH)}{rng.randint(1, 999)}号"
                if country == "cn"
                else (f"{rng.randint(1, 999)} {rng.choice(STREETS_EN)}")
            )
        else:
            first, last = rng.choice(FIRST_EN), rng.choice(LAST_EN)
            name, local, domain = f"{first} {last}", f"{first}.{last}".lower(), "example.com"
            city, region, postcode, country = rng.choice(CITIES_EN)
            street = f"{rng.randint(1, 999)} {rng.choice(STREETS_EN)}"
        email = f"{local}@{domain}"
        suffix = 2
        while email in emails:
            email = f"{local}{suffix}@{domain}"
            suffix += 1
        emails.add(email)
        customers.append({
            "id": f"C{index + 1:04d}", "name": name, "email": email,
            "phone": f"+1 555 01{rng.randint(0, 99):02d} {rng.randint(1000, 9999)}" if not is_zh
            else f"+86 138 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            "language": "zh" if is_zh else "en",
            "address": {"line1": street, "city": city, "region": region, "postcode": postcode, "country": country},
            "joined": (date(2023, 1, 1) + timedelta(days=rng.randint(0, 1300))).isoformat(),
        })  # fmt: skip
    return customers


def build_orders(rng: random.Random, customers: list[dict], products: list[dict]) -> list[dict]:
    by_id = {p["id"]: p for p in products}
    numbers = rng.sample(range(100000, 999999), N_ORDERS)
    orders = []
    for index in range(N_ORDERS):
        customer = customers[index % len(customers)] if index < len(customers) else rng.choice(customers)
        first = rng.choice(products)
        items = [first]
        if rng.random() < 0.45:  # "bought together" links are what shoppers really co-buy
            items.append(by_id[rng.choice(first["bought_together"])])
        if rng.random() < 0.15:
            items.append(rng.choice(products))
        roll = rng.random()  # order age: recent orders are still open, old ones settled
        age_days = (
            rng.uniform(0, 2)
            if roll < 0.08
            else rng.uniform(2, 7)
            if roll < 0.2
            else (rng.uniform(7, 14) if roll < 0.3 else rng.uniform(14, 300))
        )
        placed = NOW - timedelta(days=age_days)
        if age_days < 2:
            status = rng.choice(["placed"] * 6 + ["cancelled"])
        elif age_days < 7:
            status = rng.choice(["shipped"] * 6 + ["cancelled"] + (["placed"] if age_days < 3 else []))
        elif age_days < 14:
            status = rng.choice(["shipped"] * 2 + ["delivered"] * 6 + ["cancelled"])
        else:
            status = rng.choice(
                ["delivered"] * 60 + ["returned"] * 10 + ["refunded"] * 14 + ["cancelled"] * 8
            )
        lines = []
        for product in items:
            line = {"product_id": product["id"], "title": product["title"]["en"], "quantity": 1 if rng.random() < 0.85
                    else 2, "unit_price": product["price"]}  # fmt: skip
            sizes = product["attributes"].get("sizes")
            if sizes:
                line["size"] = rng.choice(sizes)
            lines.append(line)
        subtotal = round(sum(li["unit_price"] * li["quantity"] for li in lines), 2)
        country = customer["address"]["country"]
        fee_text, free_text = next((r[5], r[6]) for r in SHIPPING_REGIONS if r[0] == country)
        shipping = 0.0 if subtotal > float(free_text[1:]) else float(fee_text[1:])
        order = {
            "id": f"LL-{numbers[index]}", "customer_id": customer["id"], "email": customer["email"],
            "placed_at": placed.isoformat(timespec="minutes"),
            "status": status, "items": lines, "subtotal": subtotal, "shipping_fee": shipping,
            "total": round(subtotal + shipping, 2), "currency": CURRENCY,
            "payment_method": rng.choice(["Visa", "Mastercard", "PayPal", "Apple Pay"] if customer["language"] == "en"
                                         else ["Alipay", "WeChat Pay", "Visa", "PayPal"]),
            "shipping_address": dict(customer["address"], name=customer["name"]),
            "carrier": None, "tracking_number": None, "shipped_at": None, "delivered_at": None,
            "returned_at": None, "refunded_at": None, "cancelled_at": None, "refund_amount": None,
        }  # fmt: skip
        placed_day = placed.date()
        if status in ("shipped", "delivered", "returned", "refunded"):
            shipped = min(placed_day + timedelta(days=rng.randint(0, 2)), TODAY)
            order["carrier"] = CARRIERS[country]
            prefix = {"UPS": "1Z", "DHL": "JD", "SF Express": "SF", "USPS": "94"}[order["carrier"]]
            order["tracking_number"] = f"{prefix}{rng.randint(10**11, 10**12 - 1)}"
            order["shipped_at"] = shipped.isoformat()
            if status != "shipped":
                delivered = shipped + timedelta(days=rng.randint(2, 6))
                order["delivered_at"] = min(delivered, TODAY).isoformat()
            if status in ("returned", "refunded"):
                returned = date.fromisoformat(order["delivered_at"]) + timedelta(days=rng.randint(3, 20))
                order["returned_at"] = min(returned, TODAY).isoformat()
            if status == "refunded":
                order["refunded_at"] = min(
                    date.fromisoformat(order["returned_at"]) + timedelta(days=2), TODAY
                ).isoformat()
                order["refund_amount"] = order["subtotal"]
        if status == "cancelled":
            order["cancelled_at"] = placed_day.isoformat()
            order["refund_amount"] = order["total"]
        orders.append(order)
    orders.sort(key=lambda o: o["placed_at"])
    return orders


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    products = build_catalog(rng)
    knowledge = build_knowledge()
    customers = build_customers(rng)
    orders = build_orders(rng, customers, products)
    write_jsonl(ROOT / "catalog" / "products.jsonl", products)
    write_jsonl(ROOT / "knowledge" / "passages.jsonl", knowledge)
    write_jsonl(ROOT / "store" / "customers.jsonl", customers)
    write_jsonl(ROOT / "store" / "orders.jsonl", orders)
    print(
        f"{len(products)} products, {len(knowledge)} passages, {len(customers)} customers, {len(orders)} orders"
    )


if __name__ == "__main__":
    main()

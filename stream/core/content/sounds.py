"""Channel words found by their sound: any characters read like 微信, 扣扣, 企鹅, 支付宝, 飞机.

Evaders pick whatever characters sound like the word (胃心, 威芯, 维星, 寇寇, 岂饿, 只付包), so
a fixed list is always one homophone short. Every CJK character's readings come from
``pypinyin``'s dictionary (tones dropped, polyphones keep all readings), folded by the near-sounds
a southern speaker merges (zh/z, ch/c, sh/s, in/ing, en/eng, an/ang). A channel word is then a
sequence of *syllable classes*, and one compiled regular expression per word finds every
spelling of it in a single pass over the text.

Ordinary words with the same sound (卫星电视, 作为新客户, 维修, 微型) are the false-alarm risk:
:func:`ordinary` tells a sound hit that is, or is glued to, an ordinary word; the detector then
asks for an explicit hand-over (an id after 号/是/:) before it counts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from stream.core.content.normalize import package_data

# Tone marks -> plain vowels (ü is written v, as in pinyin input methods).
_TONES = str.maketrans({
    **dict.fromkeys("āáǎà", "a"), **dict.fromkeys("ōóǒò", "o"), **dict.fromkeys("ēéěèê", "e"),
    **dict.fromkeys("īíǐì", "i"), **dict.fromkeys("ūúǔù", "u"), **dict.fromkeys("üǖǘǚǜ", "v"),
    **dict.fromkeys("ńňǹ", "n"), **dict.fromkeys("ḿ", "m"),
})
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"))


def fold(syllable: str) -> str:
    """A toneless syllable with the common near-sounds merged (``xing`` -> ``xin``)."""
    s = syllable
    for long, short in _INITIALS:
        if s.startswith(long):
            s = short + s[len(long):]
            break
    for long, short in _FINALS:
        if s.endswith(long):
            s = s[: -len(long)] + short
            break
    return s


@dataclass(frozen=True, slots=True)
class SoundWord:
    """A channel word by sound: ``syllables`` in order, the category it stands for."""

    word: str            # the canonical spelling, e.g. 微信 (used in ``how``: homophone:微信)
    category: str        # wechat | qq | alipay | handle
    syllables: tuple[str, ...]
    mention: bool        # whether saying it (without an id) is itself a mention under PDD
    key: int = 0         # the syllable whose spelling decides whether a hit is a disguise
    single: bool = False  # one syllable (胃 for 微信): counts only when spelt unusually


# ``mention=False``: the sound alone is ordinary speech too often (企鹅 is a toy, 飞机 a
# plane); only an id next to it counts.
SOUND_WORDS: tuple[SoundWord, ...] = (
    SoundWord("微信", "wechat", ("wei", "xin"), True),
    SoundWord("扣扣", "qq", ("kou", "kou"), True),
    SoundWord("企鹅", "qq", ("qi", "e"), False),
    SoundWord("支付宝", "alipay", ("zhi", "fu", "bao"), True, 2),
    SoundWord("飞机", "handle", ("fei", "ji"), False),
    # V信 written with any character read xin (V芯, V星, W新): the letter stands for 微. The
    # key is the xin: V芯 is a disguise by itself, V星 or V型 only with an id next to it.
    SoundWord("微信", "wechat", ("v", "xin"), True, 1),
    # Last: the regex tries alternatives in order, so 胃心 is found whole before 胃 alone.
    SoundWord("微信", "wechat", ("wei",), False, single=True),
)

# Characters that do not sound like a syllable but look like its usual character (徽 for 微):
# evaders use them the same way. ``v`` is no syllable: the letters that stand for 微 in V信.
LOOKS: dict[str, frozenset[str]] = {"wei": frozenset("徽嶶溦"), "v": frozenset("vw")}

# Characters too common in ordinary sentences to stand in for a syllable on their own: a hit
# that uses one (作为新, 每位新, 口感) needs an explicit hand-over to count.
COMMON = frozenset(
    "为位未味围委尾谓喂慰畏伟卫尉维唯"
    "只之值制指直至致止治置职质志执智植址"
    "夫妇父府负服复副富福附赴赋覆辅腹扶浮佛伏俯符幅"
    "报保包抱暴爆薄饱胞堡褒"
    "心新星性行型形兴姓幸醒信"
    "口"
    "起其期七气汽器奇骑齐旗弃企启岂"
    "额恶饿俄而儿二耳"
    "非费飞肥废沸"
    "机及级即急几记技极集计基激积挤寄季既纪鸡")

# Ordinary two-character words read like (part of) a channel word. A sound hit that is one,
# or whose edge forms one with its neighbour (作为|新, 维修, 微型), is ordinary text.
WORDS = frozenset((
    "卫星 维新 唯心 违心 微型 危险 威胁 微笑 微波 微小 尾款 维修 维护 维持 维生 为了 因为 作为 "
    "成为 认为 行为 以为 称为 位置 单位 每位 各位 未来 味道 口味 围巾 委托 新款 新品 新客 新人 "
    "新鲜 心意 心情 开心 放心 小心 用心 耐心 贴心 安心 细心 信息 信用 信任 信誉 信号 相信 短信 "
    "芯片 星期 明星 星级 形状 型号 性价 口红 口感 口味 入口 出口 接口 口袋 口罩 扣款 扣除 扣分 "
    "扣子 纽扣 折扣 口碑 企鹅 起来 其他 期间 七天 气味 汽车 一起 企业 饿了 额度 金额 恶心 "
    "支付 支持 知道 指定 直接 纸箱 织物 纸巾 指甲 付款 付费 服务 客服 衣服 复制 宝贝 宝宝 "
    "包装 包括 包含 包邮 包裹 保证 保障 保险 保修 保质 保存 报价 报名 飞机 机器 手机 机会 "
    "司机 耳机 时机 飞行 非常 费用 运费 免费 肥皂 衣服 舒服 幅度 符合 服装 福利 负责 "
    "安徽 徽章 徽标 徽州 新疆 新手 新年 信封 信件 心里 伟大 围绕 卫生 卫衣 味儿 维他 唯一 "
    "微博 微商 微店 微调 未发 未到 未收 微星 威刚 维达 心相 新秀 信利"
).split())

# V or W before a character read xin that names a shape (V型领, W形): never V信.
SHAPES = frozenset(("v型", "w型", "v形", "w形"))


def readings() -> dict[str, frozenset[str]]:
    """Every CJK character -> its folded, toneless readings (from ``pypinyin``'s dictionary).

    Read from the ``pypinyin`` package's dictionary file when the sound patterns are built,
    once per process; neither the dictionary nor this result is kept, only the patterns.
    """
    pinyin_dict: dict[str, str] = json.loads(package_data("pypinyin", "pinyin_dict.json"))
    out: dict[str, frozenset[str]] = {}
    for key, value in pinyin_dict.items():
        cp = int(key)
        if 0x3400 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FFFF:
            out[chr(cp)] = frozenset(fold(s.translate(_TONES)) for s in value.split(","))
    return out


@dataclass(frozen=True, slots=True)
class SoundMatcher:
    """One regex per sound word over the compact text; ``classes`` for the prefilter."""

    pattern: re.Pattern[str]
    groups: tuple[SoundWord, ...]
    classes: dict[str, frozenset[str]]   # folded syllable -> characters read so
    # Per word: the characters that, in its key syllable, make a hit a disguise (胃 in 胃心);
    # a hit spelt there with a common character (为新, 维星) needs an id next to it. These are
    # also the prefilter's triggers for the word.
    strong: tuple[frozenset[str], ...]
    single_strong: frozenset[str]  # for one-syllable words: the unusual spellings of it
    # Invitations, group and official-account words by sound, on the view text (see
    # ``invitations``): groups ``wechat``/``qq`` (加微, 佳喂, 茄丘, 十Q), ``qie`` (企-0鹅, 乞儿),
    # ``group`` (群, 裙, qun, 君羊), ``official`` (公众号, 工枞号, 蚣粽), and ``kou``/``wei``
    # (a character read kou or wei standing alone: it names QQ or WeChat only for an
    # unexplained id).
    invitations: re.Pattern[str]


def matcher(translate: dict[int, str], common: frozenset[str]) -> SoundMatcher:
    """Build the sound patterns.

    ``translate`` is the normaliser's table (a traditional character, already simplified in
    the view, is not listed); ``common`` are characters too frequent to mark a disguise.
    """
    by_syllable: dict[str, set[str]] = {}
    for ch, sounds in readings().items():
        if translate.get(ord(ch), ch) != ch:
            continue  # the view never holds it
        for s in sounds:
            by_syllable.setdefault(s, set()).add(ch)
    classes = {fold(s): frozenset(by_syllable.get(fold(s), set()) | LOOKS.get(fold(s), set()))
               for w in SOUND_WORDS for s in w.syllables}
    # Only Basic-Multilingual-Plane characters: the regex engine tests astral members of a
    # class one by one, which made this pass a hundred times slower for characters nobody types.
    classes = {k: frozenset(c for c in v if ord(c) < 0x10000) for k, v in classes.items()}
    alternatives = []
    for i, w in enumerate(SOUND_WORDS):
        parts = "".join("[" + "".join(sorted(classes[fold(s)])) + "]" for s in w.syllables)
        alternatives.append(f"(?P<w{i}>{parts})")
    # A lookahead on the union of first syllables lets the engine skip most positions fast.
    first = "".join(sorted(set().union(*(classes[fold(w.syllables[0])] for w in SOUND_WORDS))))
    pattern = re.compile(f"(?=[{first}])(?:" + "|".join(alternatives) + ")")
    avoid = common | COMMON
    strong = tuple(frozenset(classes[fold(w.syllables[w.key])] - avoid) if w.mention
                   else frozenset() for w in SOUND_WORDS)
    single = frozenset().union(*(classes[fold(w.syllables[w.key])] - avoid
                                 for w in SOUND_WORDS if w.single))
    return SoundMatcher(pattern, SOUND_WORDS, classes, strong, single, invitations(by_syllable))


# Ordinary words read like an official-account word: 工种 (a trade), 公众 (the public) alone.
_NOT_OFFICIAL = frozenset(("工种", "公众", "宫中", "公中", "共中", "供中"))


def invitations(by_syllable: dict[str, set[str]]) -> re.Pattern[str]:
    """One pattern for the invitation, group and official-account cues, spelt by sound.

    Run on the view text (not the compact one: ``+喂+`` needs its plus), with up to three
    separators (or a padding 0: 企-0鹅) between the characters of a word.
    """
    def cls(*syllables: str, extra: str = "") -> str:
        chars = set(extra)
        for syl in syllables:
            chars |= {c for c in by_syllable.get(fold(syl), set()) if ord(c) < 0x10000}
        return "[" + re.escape("".join(sorted(chars))) + "]"

    gap = r"[\W_]{0,3}"
    jia = cls("jia", extra="+➕十")
    wei = cls("wei", extra="vw徽")
    kou = cls("kou", "qiu", extra="q口")
    # 七 is read 7 in the view (七鹅), but not a 7 inside a number (…07、0 哦).
    qie = "(?:" + cls("qi") + "|(?<![0-9])7)" + r"[\W_0]{0,3}" + cls("e", "er")
    group = cls("qun", extra="羣") + "|qun|君" + gap + "羊|羊" + gap + "君"
    official = (cls("gong") + gap + cls("zhong") + "(?:" + gap + cls("hao") + ")?" + "|gzh")
    invite = f"{jia}{gap}(?:个{gap})?"
    # A kou or wei character standing alone (卫 ～～ ab57561) or ending the message
    # (…先到先得卫): glued into a sentence (折扣, 口感, 为了) it names nothing.
    def lone(chars: str) -> str:
        return f"(?<![\u4e00-\u9fff]){chars}(?![\u4e00-\u9fff])|{chars}(?=[\\W_]{{0,8}}$)"

    kou_alone = lone(cls("kou", extra="筘窛"))
    wei_alone = lone(cls("wei", extra="徽")) + "|(?<![a-z])wei(?![a-z])"
    return re.compile(f"(?P<wechat>{invite}{wei})|(?P<qq>{invite}{kou})|(?P<qie>{qie})"
                      f"|(?P<group>{group})|(?P<official>{official})"
                      f"|(?P<kou>{kou_alone})|(?P<wei>{wei_alone})")


def is_official(word: str) -> bool:
    """Whether a match of the ``official`` group is an official-account word (not 工种)."""
    core = "".join(ch for ch in word if ch.isalnum())
    return len(core) > 2 or core == "gzh" or core not in _NOT_OFFICIAL


WORD = 2     # the hit is, or is glued to, an ordinary word: counts only when handed over
COMMON_ONLY = 1  # spelt with very common characters only: an id next to it counts, no mention
STRONG = 0   # a disguise: a mention by itself


def ordinary(text: str, s: int, e: int, strong: frozenset[str], key: int) -> int:
    """How ordinary the sound hit ``text[s:e]`` reads.

    One of :data:`WORD`, :data:`COMMON_ONLY` or :data:`STRONG`.

    :data:`WORD` when the hit is an ordinary word (卫星, 维修), when its first character forms
    one with the character before (作为|新) or its last with the one after (新|款);
    :data:`STRONG` when its key character is in ``strong`` (胃心, 寇寇, 只付宝).
    """
    hit = text[s:e]
    if hit in WORDS or (s > 0 and text[s - 1:s + 1] in WORDS) or (
            e < len(text) and text[e - 1:e + 1] in WORDS and text[e] not in "号账"):
        return WORD
    return STRONG if hit[key] in strong else COMMON_ONLY

"""The rule layer of crisis screening: compiled patterns grounded in the C-SSRS ladder and the risk
categories, plus the readings that cancel a cue (idiom, denial, study or fiction, joke, resolved
history) and the markers of who is at risk. ``rules(text)`` returns the hits and the benign spans;
``safety.py`` combines them with the classifier. Patterns match how people say they are at risk,
never how.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LEVELS = ("none", "concern", "elevated", "imminent")
RANK = {lv: i for i, lv in enumerate(LEVELS)}

# ---- patterns ---------------------------------------------------------------------------------
_F = re.I | re.U


def _p(*alternatives: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{a})" for a in alternatives), _F)


_ME = r"(?:i|i'm|im|i am|i've|i have|i'd)"
_SELF_END = r"(?:myself|my (?:own )?life|it all|it|things|everything)"

# Each rule: (name, category, level, tags, pattern). Tags: "slang"/"threat" can be undone by clear
# joke markers; "history" can be undone by a resolved, long-past frame; "intent" is raised to
# imminent by an immediate timeline.
_RULES: list[tuple[str, str, str, set, re.Pattern]] = [
    # -- suicidal ideation: the ladder ---------------------------------------------------------
    ("wish_to_be_dead", "suicidal_ideation", "concern", set(), _p(
        r"\b(?:sleep|go to sleep|fall asleep)\b[^.!?]{0,15}\b(?:and |then )?(?:not|never) wake up",
        r"\b(?:wouldn'?t|would not) mind if i (?:didn'?t|did not|never) wake up",
        r"\bwishing (?:she|he|they|i) (?:wouldn'?t|would not|didn'?t) wake up",
        r"\b(?:don'?t|do not|doesn'?t) want to (?:exist|be alive|live|be here|go on)\b",
        r"\bnot want(?:ing)? to be (?:here|alive|around) any ?more",
        r"\b(?:wasn'?t|weren'?t|was not|were not|not) (?:here|around) any ?more",
        r"\btired of (?:being alive|living|life|everything|it all)\b",
        r"\b(?:better off|happier|cope better)\b[^.!?]{0,25}\b(?:without (?:me|him|her|them)\b|if i (?:was|were|'?m) (?:gone|dead|not here))",
        r"\bdisappear\b[^.!?,]{0,10}\b(?:for good|forever|permanently|and never)\b",
        r"\b(?:wish(?:es|ed)? (?:i|he|she|they) (?:was|were) dead|want(?:s)? to die|wanna die|rather be dead|no reason to (?:live|go on))\b",
        r"\bpoint (?:of|in) (?:carrying on|going on|living|being alive|anything)",
        r"\bno point (?:in )?(?:living|going on|carrying on|being alive)\b",
        r"\b(?:nobody|no one|no-one) would (?:even )?(?:miss|notice|care)\b",
        r"\bforever sleep\b",
        # Spanish
        r"\bdormir(?:me)?\b[^.!?]{0,10}\by no despertar",
        r"\bdesaparecer para siempre\b",
        r"\b(?:estar[ií]an|estar[aá]n) mejor sin (?:m[ií]|[eé]l|ella)\b",
        r"\b(?:(?:me |se )?quiere(?:n)? morir(?:se)?|(?:me )?quiero morir(?:me)?|ganas de morir(?:me)?)\b",
        r"\bno quiero (?:vivir|seguir viviendo|existir)\b",
        r"\b(?:no )?(?:le )?veo (?:el )?sentido a (?:seguir )?(?:vivir|viviendo)\b",
        # Hindi (Devanagari and romanised)
        r"जीने का मन नहीं", r"\bjeene ka (?:mann|man|dil) nahi",
        r"मर जाना चाह", r"\b(?:mar jaana|mar jana|marna) chaah?t",
        r"मेरे बिना[^।]{0,15}खुश", r"\bmere bina\b[^.]{0,15}\bkhush",
        r"गायब हो जा", r"\bgayab ho ja(?:u|un|oon|aun)\b",
        r"मरने का (?:मन|ख्याल|ख़याल)", r"\bmarne ka (?:mann|man|dil|khayal|khyal)\b",
        r"नहीं जीना", r"जीना नहीं चाह", r"\b(?:nahi|nahin) jeena\b", r"\bjeena nahi chaah?t",
    )),
    ("active_thoughts", "suicidal_ideation", "elevated", set(), _p(
        r"\b(?:think|thinking|thought|thoughts)\b (?:about|of) (?:killing (?:myself|himself|herself)|suicide|ending (?:it|my life|things|his life|her life)|taking my (?:own )?life)",
        r"\b(?:i'?m|i am|feel(?:ing)?|been|get(?:ting)?) (?:so |really |very |pretty |quite )?suicidal\b",
        r"\bsuicidal (?:thoughts|ideation|feelings|urges)\b",
        r"\b(?:want|wanting|wanna|going|gonna|need|tempted|plan(?:ning)?) to (?:kill myself|end my life|take my (?:own )?life|end it all)\b",
        r"\bkill(?:ing)? myself\b", r"\bend(?:ing)? (?:it all|my life)\b", r"\btake my (?:own )?life\b",
        r"\b(?:think|thinking|thought|thoughts)\b[^.!?]{0,20}\bsuicid\w*",
        r"\blooking up (?:ways|how) to (?:end it|die|kill myself|end my life)",
        # Spanish
        r"\b(?:pienso|pensando|pensamientos?) (?:en|de) (?:quitarme la vida|suicidarme|matarme|el suicidio)\b",
        r"\b(?:quiero|quisiera|voy a) (?:matarme|suicidarme|quitarme la vida)\b", r"\b(?:suicidarme|matarme|quitarme la vida)\b",
        r"\bse (?:quiere|va a) (?:matar|suicidar|quitar la vida)\b", r"\bquiere (?:matarse|suicidarse|quitarse la vida)\b",
        r"\bideas (?:de muerte|suicidas)\b",
        # Hindi
        r"खुद को (?:खत्म|ख़त्म) करने", r"\bkhud ko (?:khatam|khatm|khtm) kar",
        r"आत्महत्या", r"\bsuicide kar(?:na|ne|unga|ungi|lu|loon)?\b",
        r"\bapni jaan le", r"अपनी जान ले",
    )),
    ("slang", "suicidal_ideation", "elevated", {"slang"}, _p(
        r"\bkms\b", r"\bk\.m\.s\b", r"\bsewerslide\b", r"\bsewer slide\b",
        r"\bunaliv(?:e|ing)\b (?:myself|me|thoughts|urges)\b",
        r"\b(?:how to|wanna|want to|going to|gonna) unalive\b(?! (?:my|the|this|that|your) (?!self\b|life\b))",
    )),
    ("attempt", "suicidal_ideation", "elevated", {"history"}, _p(
        r"\b(?:i|she|he|they|client|patient)\b (?:have |has |had )?(?:attempted|made an attempt)\b",
        r"\b(?:tried|attempted) (?:to )?(?:end (?:my|his|her|their) life|kill (?:myself|himself|herself)|take (?:my|his|her) (?:own )?life|suicide)\b",
        r"\bintent[eé] (?:quitarme la vida|suicidarme|matarme)\b",
        r"\bintent[oó] (?:quitarse la vida|suicidarse|matarse)\b",
    )),
    ("preparation", "suicidal_ideation", "elevated", {"intent"}, _p(
        r"\b(?:goodbye|suicide|farewell) (?:note|letter)s?\b",
        r"\b(?:written|wrote|writing) (?:letters|notes) to (?:my|his|her) family\b",
        r"\bsaid (?:my|his|her) goodbyes\b",
        r"\bgiv(?:ing|en|e) away (?:his|her|my|their|all (?:my|his|her)) (?:things|stuff|belongings|possessions)\b",
        r"\bme desped[ií] de todos\b", r"अलविदा कह दिया", r"\balvida (?:keh|kah) diya\b",
    )),
    ("intent_plan", "suicidal_ideation", "imminent", set(), _p(
        r"\b(?:going|gonna) to (?:end (?:it|my life|his life|her life|things)|kill (?:myself|himself|herself))\b[^.!?]{0,30}\b(?:tonight|today|right now|now|in the next hour|soon)\b",
        r"\b(?:i'?m|i am) going to (?:end my life|kill myself)\b",
        r"\btonight is the night\b", r"\bdoing it tonight\b", r"\b(?:i'?m|i am) ready to go\b",
        r"\bi'?ve decided\b[^.!?]{0,3}[.!]?\s*tonight\b",
        r"\b(?:i'?m|i am) not safe right now\b",
        r"\bhave everything i need\b[^.!?]{0,30}\bgoing to do it\b",
        r"\b(?:already )?started trying to (?:end it|end my life|kill myself)\b",
        r"\b(?:a |the )?plan to (?:end|take) (?:his|her|my|their) (?:own )?life\b",
        r"\b(?:has|have|had) a plan and (?:the )?means\b", r"\bmeans at home\b",
        # Spanish
        r"\besta noche lo hago\b", r"\bya lo decid[ií]\b",
        r"\bplan para (?:quitarse|quitarme) la vida\b", r"\bacceso a los medios\b",
        # Hindi
        r"आज रात[^।]{0,20}(?:खत्म|ख़त्म)", r"\baaj raat\b[^.]{0,20}\b(?:khatam|khatm)\b",
    )),
    ("intent_future", "suicidal_ideation", "elevated", {"intent"}, _p(
        r"\bend(?:ing)? (?:it all|my life|everything)\b", r"\bkill(?:ing)? myself\b",
        r"सब (?:खत्म|ख़त्म) कर (?:दूँ|दूं|दू)", r"\bsab (?:khatam|khatm|khtm) kar (?:doon|du|dun|dunga|dungi)\b",
        r"\b(?:she|he)(?:'s| is) going to end it\b",
    )),
    # -- self-harm -------------------------------------------------------------------------------
    ("self_harm_urge", "self_harm", "concern", set(), _p(
        r"\burges? to (?:hurt|harm|cut|injure) (?:myself|herself|himself)\b",
        r"\b(?:sh|self[- ]harm|self[- ]injury) urges?\b",
        r"\b(?:want|wanting|need) to (?:hurt|harm|cut) myself\b",
    )),
    ("self_harm_act", "self_harm", "elevated", {"history"}, _p(
        r"\b(?:i|i've|i have|she|he|she's|he's) (?:been |started |keep )?(?:hurt|hurting|harmed|harming|cut|cutting|hit|hitting|injured|injuring) (?:myself|herself|himself)\b",
        r"\b(?:started|been|keep|kept) (?:hurting|harming|cutting|hitting) (?:myself|herself|himself)\b",
        r"\b(?:hurting|harming|cutting) (?:herself|himself)\b",
        r"\bself[- ]harm(?:ed|ing)\b", r"\bdisclosed self[- ]harm\b",
        r"\b(?:me hice|me hago|me estoy haciendo|se est[aá] haciendo|se hace|se hizo) da[ñn]o\b",
        r"खुद को (?:नुकसान|चोट) पहुँचा", r"खुद को (?:नुकसान|चोट) पहुंचा",
        r"\bkhud ko (?:hurt|cut|nuksaan|nuksan|chot)\b",
    )),
    ("self_harm_injury", "self_harm", "imminent", set(), _p(
        r"\bbleeding (?:won'?t|will not|doesn'?t|does not|can'?t) stop\b", r"\bwon'?t stop bleeding\b",
        r"\b(?:hurt|cut) (?:myself|herself|himself) (?:badly|really badly|deep(?:ly)?)\b",
    )),
    # -- medical emergency -------------------------------------------------------------------------
    ("overdose", "medical_emergency", "imminent", set(), _p(
        r"\b(?:took|taken|take|swallowed|had) (?:too many|a lot of|lots of|a bunch of|loads of|all (?:my|his|her|the)) (?:pills|tablets|meds|medication)\b",
        r"\b(?:taken|took|had|has taken) an overdose\b", r"\boverdosed\b",
        r"\b(?:took|taken|take|swallowed|had) (?:a |the )?(?:whole |full |entire )?(?:bottle|packet|box|handful|strip|pack)s? of (?:pills|tablets|meds|medication|\w+)\b",
        r"\b(?:me )?(?:tom[eé]|tom[oó]|se tom[oó]) (?:demasiadas|muchas|un mont[oó]n de) pastillas\b", r"\bsobredosis\b",
        r"\bgoliyan kha (?:li|liya|lee)\b", r"गोलियाँ खा ली", r"गोलियां खा ली",
    )),
    ("double_dose", "medical_emergency", "concern", set(), _p(
        r"\b(?:accidentally|by mistake)\b[^.!?]{0,20}\bdouble dose\b", r"\bdouble dose\b[^.!?]{0,20}\bby mistake\b",
    )),
    ("collapse", "medical_emergency", "imminent", set(), _p(
        r"\b(?:unconscious|unresponsive|not breathing)\b", r"\bcan'?t wake (?:him|her|them) up\b",
        r"\bcan'?t wake (?:him|her|them)\b",
        r"\bchest (?:feels )?(?:crushed|crushing)\b", r"\bchest pain\b", r"\barm (?:has gone|went|is) numb\b",
    )),
    # -- harm to others ----------------------------------------------------------------------------
    ("intrusive_harm", "harm_to_others", "concern", set(), _p(
        r"\b(?:sudden|intrusive|unwanted|scary) thoughts? of (?:hurting|harming|killing)\b",
        r"\b(?:scared|afraid|frightened|terrified) of what i (?:might|could|would) do\b",
        r"\b(?:scared|afraid) (?:that )?i (?:might|will|could) (?:hurt|harm) (?:someone|somebody|him|her|them|my)\b",
    )),
    ("threat", "harm_to_others", "elevated", {"threat"}, _p(
        r"\b(?:think|thinking|thought) about (?:hurting|harming|killing|attacking) (?:my|him|her|them|someone|somebody|that|the)\b",
        r"\bmake (?:him|her|them) pay\b",
        r"\b(?:made|making|makes) (?:a )?threats? (?:against|to)\b", r"\bthreatened to (?:kill|hurt|harm)\b",
        r"\bvoices?\b[^.!?]{0,20}\b(?:tell|telling|told|tells) (?:him|her|me|them) to (?:hurt|harm|kill)\b",
        r"\bbring(?:ing)? (?:something|a \w+) to school to (?:scare|hurt|get)\b",
        r"\b(?:i'?m|i am) going to (?:hurt|kill|stab|shoot|attack|throttle|strangle) (?:him|her|them|my)\b",
        r"\bva a matar a\b", r"\blo voy a matar\b", r"\bla voy a matar\b",
        r"\bmaar (?:dega|degi|dunga|dungi|daalega|dalega)\b", r"मार (?:देगा|देगी|दूँगा|दूंगा|डालेगा)",
    )),
    ("threat_now", "harm_to_others", "imminent", set(), _p(
        r"\b(?:kill|hurt|stab|shoot)\b[^.!?]{0,40}\b(?:at|outside) (?:his|her|their) (?:door|house|place|flat)\b",
        r"\b(?:knife|gun|weapon)\b[^.!?]{0,15}\bin my hand\b",
        r"\b(?:driving|on my way|heading|going) (?:over )?to (?:his|her|their) (?:place|house|flat|work)\b[^.!?]{0,40}\b(?:hurt|kill|get)\b",
        r"\bgoing to (?:hurt|kill) (?:him|her|them)\b[^.!?]{0,10}\b(?:tonight|right now|now)\b",
        r"\b(?:tonight|right now)\b[^.!?]{0,40}\bgoing to (?:hurt|kill) (?:him|her|them)\b",
        r"\bva a matar\b[^.!?]{0,40}\b(?:acaba de salir|ya sali[oó]|ahora)\b",
        r"\bmaar (?:dega|dalega|daalega)\b[^.!?]{0,30}\babhi\b", r"मार (?:देगा|डालेगा)[^।]{0,30}अभी",
    )),
    # -- abuse -----------------------------------------------------------------------------------
    ("abuse_fear", "abuse", "concern", set(), _p(
        r"\b(?:scared|afraid|frightened|terrified) (?:to (?:go|going|be) home|of going home|to say anything at home)\b",
        r"\b(?:afraid|scared) to say anything\b",
        r"\b(?:shouts|yells|screams) at (?:her|him|them)\b",
        r"\bmoney (?:keeps|kept|has been|is) (?:going|gone|went) missing\b",
        r"घर (?:में|मे) डर", r"\bghar (?:mein|me) dar\b",
        r"\b(?:was|were|being) abused\b",
    )),
    ("abuse", "abuse", "elevated", {"history"}, _p(
        r"\b(?:partner|husband|wife|boyfriend|girlfriend|dad|father|stepdad|stepfather|mum|mom|mother|stepmum|uncle|brother|he|she)\b (?:\w+ ){0,2}?(?:hits|hit|beats|beat|slaps|slapped|kicks|kicked|punches|punched|chokes|choked|hurts|shoved|pushed|strangled) (?:me|her|him)\b",
        r"\bcomes into my room at night\b",
        r"\bcontrols (?:all )?(?:of )?(?:our|my|the) money\b", r"\bwon'?t let me (?:see|talk to) (?:my )?(?:friends|family)\b",
        r"\b(?:is|was|has been|keeps) abusing\b", r"\b(?:was|is|has been) abusive\b",
        r"\b(?:often |always |keeps |has )*(?:has|with|covered in) bruises\b",
        r"\bno me siento (?:segur[ao]) en casa\b", r"\b(?:me pega|me golpea|me maltrata)\b",
        r"मुझे मारता है", r"मुझे मारती है", r"\bmujhe (?:maarta|marta|peet(?:ta)?) hai\b",
        r"\b(?:don'?t|do not) feel safe at home\b",
    )),
    ("abuse_now", "abuse", "imminent", set(), _p(
        r"\b(?:banging|pounding|kicking) (?:on )?(?:the|my) door\b",
        r"\bthreatening me right now\b", r"\b(?:he|she)(?:'s| is) (?:hitting|attacking) me (?:right )?now\b",
    )),
    ("abuse_fear_es", "abuse", "concern", set(), _p(r"\btengo miedo de volver a casa\b")),
]

# Withdrawal is a combination: a stop (context) plus symptoms; the symptoms set the level.
_WITHDRAWAL_CONTEXT = _p(
    r"\b(?:stopped|quit|quitting|stopping|coming off|came off|come off)\b (?:(?:his|her|my|their) )?(?:drinking|alcohol|booze|the drink|opioids|heroin|benzo\w*|xanax|valium|sedatives|methadone)\b",
    r"\b(?:days?|weeks?) (?:without|off) (?:alcohol|a drink|drinking|booze)\b",
    r"\bdrinking (?:suddenly|abruptly)\b", r"\bstopped drinking\b",
    r"\bdej[eé] de beber\b", r"\bsin beber\b", r"शराब छोड़", r"शराब छोड", r"\b(?:sharab|sharaab|daru|daaru) (?:chhod|chod)",
)
_WITHDRAWAL_BAD = _p(r"\b(?:shaking|shaky|shakes|trembl\w*|tremor\w*|tremulous|sweat\w*|racing heart|heart is racing|"
                     r"vomit\w*|can'?t keep (?:water|food|anything) down)\b",
                     r"\b(?:temblar|temblores|sudar|sudores)\b", r"काँप", r"कांप", r"\bkaanp")
_WITHDRAWAL_SEVERE = _p(r"\b(?:seeing things|hearing things|hallucinat\w*|confus\w*|seizures?|fits?|convuls\w*|delirium|dts)\b",
                        r"\balucin\w*\b", r"दिख रही हैं जो", r"चीज़ें दिख", r"\bdikh rah")
_WITHDRAWAL_PLAN = _p(
    r"\b(?:quit|stop|stopping|quitting|give up)\b[^.!?]{0,15}\bcold turkey\b[^.!?]*\b(?:heav\w*|every day|daily|for years)\b",
    r"\bcold turkey\b[\s\S]{0,80}?\b(?:heav\w*|every day|daily|for years)\b",
    r"\bran out of (?:my |his |her )?(?:\w+ )?(?:medication|meds|pills|tablets|benzos?)\b",
)

# Readings that make a message benign, and marks that qualify them.
_IDIOM = _p(
    r"\b(?:is|are|was|were|be) killing me\b", r"\bkill(?:ed|s)? me\b(?=[.!,]| (?:today|this|at|with))",
    r"\bkill(?:ed|ing)? it\b", r"\bkiller\b", r"\bkilling time\b", r"\b(?:dying|dyin) to\b",
    r"\bdie of (?:boredom|embarrassment|shame|laughter|hunger)\b", r"\b(?:nearly |almost )?died laughing\b",
    r"\bdead tired\b", r"\b(?:death|end) of me\b", r"\b(?:could|can) murder an?\b", r"\bkill for an?\b",
    r"\b(?:going|gonna) to (?:kill|murder) me\b", r"\bshoot me now\b", r"\b(?:nearly|almost) killed (?:me|her|him)\b",
    r"\brather die than\b", r"\b(?:phone|battery|server|laptop|character|car)\b[^.!?]{0,10}\b(?:died|is dead)\b",
    r"\bme muero de\b", r"\bmuert[oa] de (?:cansancio|hambre|risa|sue[ñn]o|miedo|ganas)\b",
    r"\bme (?:est[aá] matando|mat[oó]|mata de|va a matar)\b",
    r"\bjaan (?:le lega|nikal)", r"जान (?:ही )?निकाल", r"मरा जा रहा", r"मरी जा रही", r"(?:भूख|गर्मी|ठंड|बोरियत|थकान|हंसी|हँसी) से मर",
    r"\b(?:bhookh|bhook|garmi|thand|boriyat|thakan|hasi|hansi) se mar", r"\bkill(?:ing|ed)? myself laughing\b",
    r"\bbhookh se mar", r"मार (?:ही )?डाला", r"\bmaar (?:hi )?daal", r"\bzinda laash\b",
    r"\b(?:mujhe|hume|humein) maar (?:da?a?l\w*|de\w*)", r"मुझे मार (?:डाल|दे)",
)
_DENIAL = _p(
    r"\b(?:not|never|no|don'?t|do not|didn'?t|haven'?t|wasn'?t|am not|isn'?t|without|denied|deny|denies)\b[^.,;!?]{0,30}?"
    r"(?:suicid\w*|kill(?:ing)? myself|hurt(?:ing)? (?:myself|anyone|anybody|someone)|harm(?:ing)? (?:myself|anyone)|"
    r"end(?:ing)? (?:my|it|things)\b(?: (?:life|all))?|thoughts|want to die|a plan|do anything)",
    r"\b(?:screened|screens|screening|was) negative(?: for [^.,;!?]{0,30})?", r"\bnegative (?:screen|for suicid\w*)\b",
    r"\bno\b[^.,;!?]{0,25}?(?:hacerme da[ñn]o|matarme|quitarme la vida|suicid\w*|morir\w*|ideas de muerte)",
    r"\bsuicidal\s+nahi", r"\bnahi\b[^.]{0,15}\bsuicidal\b", r"आत्महत्या[^।]{0,25}नहीं",
)
_STUDY = _p(r"\b(?:essay|assignment|course|class discussion|lead the class|exam|homework|novel|short story|fiction|"
            r"documentary|research(?:ing)?|statistics|training session|lecture|thesis|literature)\b",
            r"\b(?:a |the |that |this )?song about\b")
_SELF_APPLIED = _p(r"\b(?:literally|basically|actually) me\b", r"\bthat'?s me\b", r"\bis me right now\b")
_HISTORY_OLD = _p(r"\b(?:years|decades?|a decade|long time|ages) ago\b", r"\bas a (?:teen(?:ager)?|kid|child)\b",
                  r"\b(?:ten|\d+|many|several|two|three|five) years\b", r"\bhace (?:muchos |varios )?años\b",
                  r"कई साल पहले", r"\bsaal pehle\b", r"\blong time\b")
_RESOLVED = _p(r"\b(?:doing|feel(?:ing)?|i'?m) (?:well|better|great|fine|okay|ok|good|safe) now\b", r"\bproud of\b",
               r"\bsober since\b", r"\bdenied any current\b", r"\bno current (?:thoughts|ideation)\b",
               r"\bprotective factors are strong\b", r"\b(?:hoy |ahora )?estoy bien\b", r"अब मैं ठीक",
               r"\bab (?:main|mai) (?:theek|thik)\b", r"\bfeel safe now\b", r"\bhow far i'?ve come\b")
_RETURNING = _p(r"\b(?:creeping|coming|came|are|is) back\b", r"\bback again\b", r"\blately\b", r"\bstill feel\b",
                r"\bbrought (?:it|them|everything) (?:all )?back\b", r"\bcan'?t stop\b", r"\bagain\b")
_TIMELINE = _p(r"\btonight\b", r"\bright now\b", r"\bin the next hour\b", r"\besta noche\b", r"आज रात", r"\baaj raat\b")
_JOKE = _p(r"\b(?:lol|lmao|lmfao|rofl|haha\w*|jk|xd)\b", r"[😂🤣🙃💀😅😆😜🤪]")
_SERIOUS = _p(r"\bnot (?:joking|kidding)\b", r"\bfr fr\b", r"\bfor real\b", r"\bi mean it\b", r"\bno joke\b",
              r"\bseriously\b")

# Words of the risk domain. A message without any of them is left to the rules unless the
# classifier is very sure: most false alarms of an embedding classifier are topically near messages.
TOPICAL = _p(
    r"\b(?:die|dies|dying|dead|death|died|kill\w*|suicid\w*|alive|living|live|life|hurt\w*|harm\w*|cut\w*|"
    r"pills?|tablets?|overdos\w*|bleed\w*|blood|gone|disappear\w*|vanish\w*|wake up|goodbyes?|burden|hopeless|"
    r"worthless|point|abus\w*|hits?|unsafe|safe|scared|afraid|drink\w*|alcohol|withdraw\w*|shak\w*|trembl\w*|"
    r"weapon|knife|gun|threat\w*|end (?:it|things|everything))\b",
    r"\b(?:morir\w*|muero|muere|muert\w*|matar\w*|vida|vivir|viviendo|suicid\w*|da[ñn]o|pastillas|desaparec\w*|sentido)\b",
    r"मर|मौत|जान|जीन|जीने|खत्म|ख़त्म|आत्महत्या|नुकसान|गोलि",
    r"\b(?:marna|marne|mar ja\w*|maut|jaan|jeena|jeene|khatam|khatm|goliyan|nuksaan)\b",
)

# A reply that talks *about* risk: advice to ask, assess or watch for it, a conditional instruction,
# a list of risk factors, or a reflection of the person's own words. Used only on model replies
# (``safety.screen_reply``), never on the messages people send.
DISCUSSION = _p(
    r"\b(?:ask\w*|question\w*|assess\w*|screen\w*|enquir\w*|inquir\w*|explor\w*|check\w*|monitor\w*|review\w*|"
    r"document\w*|whether|discuss\w*|conversations?|address\w*|rais\w*|broach\w*|approach\w*)\b",
    r"\b(?:talk\w*|speak\w*) (?:about|through|with)\b", r"\bbring\w* (?:it |this |that )?up\b",
    r"\bif (?:you|he|she|they|things|there|it|this|that)\b",
    r"\b(?:risks?|indicators?|warning signs?|red flags?|ladder|escalating factors?|denied|denies)\b",
    r"\b(?:such as|including|for example|e\.g\.)",
    r"\b(?:tells me|sounds like|when you say|you(?:'ve| have)? (?:said|described|mentioned|told me))\b",
)

# A reply that endorses or invites harm counts whatever its framing (reply guard only).
ENDORSE = (
    ("suicidal_ideation", _p(r"\b(?:you|they|he|she)(?:'d| would)(?: really| honestly)? be better off dead\b", r"\b(?:life|living)(?: really)? (?:is not|isn't|is never) worth",
                             r"\b(?:want|wants|wanting) to die,? (?:that|it)(?:'s| is) (?:your|their|her|his) "
                             r"(?:choice|decision|business|right)",
                             r"\b(?:your|their|her|his) (?:choice|decision|right) to (?:die|end (?:it|(?:your|their|her|his) life))",
                             r"\b(?:should|could|might as well|deserves? to) (?:just )?(?:die|end (?:it|it all|(?:your|their|her|"
                             r"his) life)|kill (?:yourself|themselves|himself|herself))\b",
                             r"\btake all (?:of )?(?:your|her|his|their|the|those) (?:pills|tablets|medication)",
                             r"\bwhy not (?:just )?(?:end it|die|kill (?:yourself|themselves|himself|herself))\b")),
    ("harm_to_others", _p(r"\b(?:should|could|might as well|go ahead and) (?:just )?(?:hurt|hit|harm|kill|attack|punish) "
                          r"(?:him|her|them|that)\b", r"\bhurt (?:him|her|them) before (?:he|she|they) hurts?\b")),
)

# Who is speaking about whom.
_CLINICIAN = _p(
    r"\b(?:my|a|our|the|one of my)\b (?:\w+ ){0,2}?(?:client|patient)s?\b(?!['’]s risk assessment)",
    r"\bclient(?:['’]s)? (?:disclosed|told|said|says|reported|texted|screened)\b",
    r"\b(?:in|during|after) (?:the |a |our )?session\b", r"\bmi paciente\b", r"\bmis pacientes\b",
    r"\b(?:meri|mera|mere) (?:client|patient|mareez|marij)\b", r"मेरे? (?:क्लाइंट|मरीज़|मरीज)", r"मेरी (?:क्लाइंट|मरीज़|मरीज)",
)
_THIRD_NP = (r"(?:my|our|his|her) (?:\w+ )?(?:friend|brother|sister|son|daughter|dad|father|mum|mom|mother|husband|"
             r"wife|partner|boyfriend|girlfriend|roommate|flatmate|colleague|coworker|neighbou?r|grandmother|"
             r"grandfather|uncle|aunt|cousin|kid|child|teen|student)s?\b|\b(?:a|the) (?:little )?(?:boy|girl|child|"
             r"kid|student|teen)\b|\bmi (?:amig[oa]|herman[oa]|hij[oa]|vecin[oa]|madre|padre|pareja)\b|"
             r"\b(?:mera|meri|mere) (?:bhai|behen|behan|dost|saheli|beta|beti|papa|pati)\b|मेरी सहेली|मेरा भाई|मेरी बहन")
_WHO = re.compile(
    r"(?P<other>" + _THIRD_NP + r"|\b(?:he|she|they|him|his|them|their|himself|herself|themselves|he's|she's|"
    r"her)\b|\bse (?:quiere|est[aá]|hace|hizo|va)\b|वह|वो|\b(?:usko|usne|wo|woh)\b)"
    r"|(?P<self>\b(?:i|i'm|im|i've|i'd|me|my|myself|mine|yo|m[ií])\b|मैं|मुझे|मैंने|मेरा|मेरी|मेरे|\b(?:main|mujhe|maine|mera|meri)\b)",
    _F)


@dataclass
class _Hit:
    rule: str
    category: str
    level: str
    start: int
    end: int
    text: str
    who: str = "any"
    tags: frozenset = frozenset()

    def span(self, rule: str | None = None) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "rule": rule or self.rule}


def _who(text: str, start: int, end: int) -> str:
    """self/other from the cue itself, else from the nearest person mentioned before it in its sentence."""
    for m in _WHO.finditer(text, start, end):
        if m.group("other") and re.search(r"self|selves|\b(?:his|her|their)\b|\bse\b|\bhim\b|\bthem\b", m.group(), _F):
            return "other"
    for m in _WHO.finditer(text, start, end):
        if m.group("self"):
            return "self"
    sentence_start = max((text.rfind(c, 0, start) for c in ".!?।;"), default=-1) + 1
    window = text[max(sentence_start, start - 60):start]
    last = None
    for m in _WHO.finditer(window):
        last = "other" if m.group("other") else "self"
    return last or "any"


_ABUSED_ME = _p(r"\bme\b", r"मुझे", r"\bmujhe\b")


def _sentence(text: str, start: int, end: int) -> str:
    lo = max((text.rfind(c, 0, start) for c in ".!?।;"), default=-1) + 1
    his = [i for i in (text.find(c, end) for c in ".!?।;") if i >= 0]
    return text[lo:min(his, default=len(text))]


def _overlaps(hit: _Hit, spans: list[tuple[int, int]]) -> bool:
    return any(hit.start < e and s < hit.end for s, e in spans)


def _matches(pattern: re.Pattern, text: str) -> list[re.Match]:
    return list(pattern.finditer(text))


def rules(text: str) -> tuple[list[_Hit], list[dict]]:
    """Risk cues that survive idiom, denial, study, joke and history readings, plus the benign spans found."""
    hits: list[_Hit] = []
    for name, cat, level, tags, pat in _RULES:
        for m in pat.finditer(text):
            h = _Hit(name, cat, level, m.start(), m.end(), m.group(), tags=frozenset(tags))
            h.who = "other" if cat == "harm_to_others" else _who(text, m.start(), m.end())
            if cat == "abuse" and _ABUSED_ME.search(_sentence(text, m.start(), m.end())) and not re.search(
                    r"\b(?:her|him|them|his|their)\b", m.group(), _F):
                h.who = "self"  # the speaker is the one threatened or hurt
            hits.append(h)
    ctx = _matches(_WITHDRAWAL_CONTEXT, text)
    if ctx:
        severe, bad = _matches(_WITHDRAWAL_SEVERE, text), _matches(_WITHDRAWAL_BAD, text)
        sym, level = (severe, "imminent") if severe else (bad, "elevated") if bad else ([], "")
        if sym:
            who = _who(text, ctx[0].start(), ctx[0].end())
            for m in (ctx[0], sym[0]):
                hits.append(_Hit("withdrawal_" + level, "substance_withdrawal", level, m.start(), m.end(), m.group(),
                                 who=who))
    for m in _WITHDRAWAL_PLAN.finditer(text):
        hits.append(_Hit("withdrawal_risk", "substance_withdrawal", "concern", m.start(), m.end(), m.group(),
                         who=_who(text, m.start(), m.end())))

    benign: list[dict] = []

    def drop(kind: str, spans: list[re.Match] | None, keep) -> None:
        nonlocal hits
        kept = [h for h in hits if keep(h)]
        if len(kept) < len(hits) and spans:
            benign.extend({"start": m.start(), "end": m.end(), "text": m.group(), "rule": kind} for m in spans)
        hits = kept

    idioms = _matches(_IDIOM, text)
    drop("idiom", idioms, lambda h: not _overlaps(h, [m.span() for m in idioms]))
    denials = _matches(_DENIAL, text)
    drop("denial", denials, lambda h: not _overlaps(h, [m.span() for m in denials]) or h.level == "imminent"
         and h.rule != "intent_plan")
    study = _matches(_STUDY, text)
    if study and not _SELF_APPLIED.search(text):
        drop("study_or_fiction", study, lambda h: h.category != "suicidal_ideation" and h.category != "self_harm")
    jokes = _matches(_JOKE, text)
    if jokes and not _SERIOUS.search(text):
        drop("joke", jokes, lambda h: not ({"slang", "threat"} & h.tags))
    old = _matches(_HISTORY_OLD, text)
    if old and any("history" in h.tags for h in hits):
        resolved, returning = _matches(_RESOLVED, text), _RETURNING.search(text)
        if resolved and not returning:
            drop("resolved_history", old + resolved, lambda h: h.level == "imminent")
        else:  # history with current distress, or history alone: at least a gentle check
            for h in hits:
                if "history" in h.tags:
                    h.level = "concern"
    # with no risk left, every benign reading found is evidence for "none" (and makes the classifier cautious)
    if not hits:
        for kind, found in (("idiom", idioms), ("denial", denials), ("study_or_fiction", study),
                            ("resolved_history", old if _RESOLVED.search(text) else [])):
            if not any(b["rule"] == kind for b in benign):
                benign.extend({"start": m.start(), "end": m.end(), "text": m.group(), "rule": kind} for m in found)
    # an intent cue with an immediate timeline is imminent
    if any("intent" in h.tags for h in hits):
        for m in _TIMELINE.finditer(text):
            hits.append(_Hit("timeline", "suicidal_ideation", "imminent", m.start(), m.end(), m.group(),
                             who=next(h.who for h in hits if "intent" in h.tags)))
    return hits, benign


def subject(text: str, hits: list[_Hit]) -> tuple[str, dict | None]:
    m = _CLINICIAN.search(text)
    if m:
        return "client", {"start": m.start(), "end": m.end(), "text": m.group(), "rule": "clinician_report"}
    if any(h.category == "harm_to_others" for h in hits):
        return "other", None
    ranked = sorted(hits, key=lambda h: -RANK[h.level])
    for h in ranked:
        if h.who != "any":
            return h.who, None
    first = _WHO.search(text)
    return ("other" if first and first.group("other") else "self"), None

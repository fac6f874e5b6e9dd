"""Risk cues of crisis screening, as data: one rule per way people say they are at risk, grounded in
the C-SSRS ideation ladder (wish to be dead → thoughts → method → intent → plan) and the risk
categories. Patterns match how people say they are at risk, never how to do harm."""

from __future__ import annotations

import re

from workbench.safety_rules.pattern import p

__all__ = ["RULES"]

_ME = r"(?:i|i'm|im|i am|i've|i have|i'd)"
_SELF_END = r"(?:myself|my (?:own )?life|it all|it|things|everything)"

# Each rule: (name, category, level, tags, pattern). Tags: "slang"/"threat" can be undone by clear
# joke markers; "history" can be undone by a resolved, long-past frame; "intent" is raised to
# imminent by an immediate timeline.
RULES: list[tuple[str, str, str, set, re.Pattern]] = [
    # -- suicidal ideation: the ladder ---------------------------------------------------------
    ("wish_to_be_dead", "suicidal_ideation", "concern", set(), p(
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
    ("active_thoughts", "suicidal_ideation", "elevated", set(), p(
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
    ("slang", "suicidal_ideation", "elevated", {"slang"}, p(
        r"\bkms\b", r"\bk\.m\.s\b", r"\bsewerslide\b", r"\bsewer slide\b",
        r"\bunaliv(?:e|ing)\b (?:myself|me|thoughts|urges)\b",
        r"\b(?:how to|wanna|want to|going to|gonna) unalive\b(?! (?:my|the|this|that|your) (?!self\b|life\b))",
    )),
    ("attempt", "suicidal_ideation", "elevated", {"history"}, p(
        r"\b(?:i|she|he|they|client|patient)\b (?:have |has |had )?(?:attempted|made an attempt)\b",
        r"\b(?:tried|attempted) (?:to )?(?:end (?:my|his|her|their) life|kill (?:myself|himself|herself)|take (?:my|his|her) (?:own )?life|suicide)\b",
        r"\bintent[eé] (?:quitarme la vida|suicidarme|matarme)\b",
        r"\bintent[oó] (?:quitarse la vida|suicidarse|matarse)\b",
    )),
    ("preparation", "suicidal_ideation", "elevated", {"intent"}, p(
        r"\b(?:goodbye|suicide|farewell) (?:note|letter)s?\b",
        r"\b(?:written|wrote|writing) (?:letters|notes) to (?:my|his|her) family\b",
        r"\bsaid (?:my|his|her) goodbyes\b",
        r"\bgiv(?:ing|en|e) away (?:his|her|my|their|all (?:my|his|her)) (?:things|stuff|belongings|possessions)\b",
        r"\bme desped[ií] de todos\b", r"अलविदा कह दिया", r"\balvida (?:keh|kah) diya\b",
    )),
    ("intent_plan", "suicidal_ideation", "imminent", set(), p(
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
    ("intent_future", "suicidal_ideation", "elevated", {"intent"}, p(
        r"\bend(?:ing)? (?:it all|my life|everything)\b", r"\bkill(?:ing)? myself\b",
        r"सब (?:खत्म|ख़त्म) कर (?:दूँ|दूं|दू)", r"\bsab (?:khatam|khatm|khtm) kar (?:doon|du|dun|dunga|dungi)\b",
        r"\b(?:she|he)(?:'s| is) going to end it\b",
    )),
    # -- self-harm -------------------------------------------------------------------------------
    ("self_harm_urge", "self_harm", "concern", set(), p(
        r"\burges? to (?:hurt|harm|cut|injure) (?:myself|herself|himself)\b",
        r"\b(?:sh|self[- ]harm|self[- ]injury) urges?\b",
        r"\b(?:want|wanting|need) to (?:hurt|harm|cut) myself\b",
    )),
    ("self_harm_act", "self_harm", "elevated", {"history"}, p(
        r"\b(?:i|i've|i have|she|he|she's|he's) (?:been |started |keep )?(?:hurt|hurting|harmed|harming|cut|cutting|hit|hitting|injured|injuring) (?:myself|herself|himself)\b",
        r"\b(?:started|been|keep|kept) (?:hurting|harming|cutting|hitting) (?:myself|herself|himself)\b",
        r"\b(?:hurting|harming|cutting) (?:herself|himself)\b",
        r"\bself[- ]harm(?:ed|ing)\b", r"\bdisclosed self[- ]harm\b",
        r"\b(?:me hice|me hago|me estoy haciendo|se est[aá] haciendo|se hace|se hizo) da[ñn]o\b",
        r"खुद को (?:नुकसान|चोट) पहुँचा", r"खुद को (?:नुकसान|चोट) पहुंचा",
        r"\bkhud ko (?:hurt|cut|nuksaan|nuksan|chot)\b",
    )),
    ("self_harm_injury", "self_harm", "imminent", set(), p(
        r"\bbleeding (?:won'?t|will not|doesn'?t|does not|can'?t) stop\b", r"\bwon'?t stop bleeding\b",
        r"\b(?:hurt|cut) (?:myself|herself|himself) (?:badly|really badly|deep(?:ly)?)\b",
    )),
    # -- medical emergency -------------------------------------------------------------------------
    ("overdose", "substance", "imminent", set(), p(
        r"\b(?:took|taken|take|swallowed|had) (?:too many|a lot of|lots of|a bunch of|loads of|all (?:my|his|her|the)) (?:pills|tablets|meds|medication)\b",
        r"\b(?:taken|took|had|has taken) an overdose\b", r"\boverdosed\b",
        r"\b(?:took|taken|take|swallowed|had) (?:a |the )?(?:whole |full |entire )?(?:bottle|packet|box|handful|strip|pack)s? of (?:pills|tablets|meds|medication|\w+)\b",
        r"\b(?:me )?(?:tom[eé]|tom[oó]|se tom[oó]) (?:demasiadas|muchas|un mont[oó]n de) pastillas\b", r"\bsobredosis\b",
        r"\bgoliyan kha (?:li|liya|lee)\b", r"गोलियाँ खा ली", r"गोलियां खा ली",
    )),
    ("double_dose", "substance", "concern", set(), p(
        r"\b(?:accidentally|by mistake)\b[^.!?]{0,20}\bdouble dose\b", r"\bdouble dose\b[^.!?]{0,20}\bby mistake\b",
    )),
    ("collapse", "substance", "imminent", set(), p(
        r"\b(?:unconscious|unresponsive|not breathing)\b", r"\bcan'?t wake (?:him|her|them) up\b",
        r"\bcan'?t wake (?:him|her|them)\b",
        r"\bchest (?:feels )?(?:crushed|crushing)\b", r"\bchest pain\b", r"\barm (?:has gone|went|is) numb\b",
    )),
    # -- harm to others ----------------------------------------------------------------------------
    ("intrusive_harm", "harm_to_others", "concern", set(), p(
        r"\b(?:sudden|intrusive|unwanted|scary) thoughts? of (?:hurting|harming|killing)\b",
        r"\b(?:scared|afraid|frightened|terrified) of what i (?:might|could|would) do\b",
        r"\b(?:scared|afraid) (?:that )?i (?:might|will|could) (?:hurt|harm) (?:someone|somebody|him|her|them|my)\b",
    )),
    ("threat", "harm_to_others", "elevated", {"threat"}, p(
        r"\b(?:think|thinking|thought) about (?:hurting|harming|killing|attacking) (?:my|him|her|them|someone|somebody|that|the)\b",
        r"\bmake (?:him|her|them) pay\b",
        r"\b(?:made|making|makes) (?:a )?threats? (?:against|to)\b", r"\bthreatened to (?:kill|hurt|harm)\b",
        r"\bvoices?\b[^.!?]{0,20}\b(?:tell|telling|told|tells) (?:him|her|me|them) to (?:hurt|harm|kill)\b",
        r"\bbring(?:ing)? (?:something|a \w+) to school to (?:scare|hurt|get)\b",
        r"\b(?:i'?m|i am) going to (?:hurt|kill|stab|shoot|attack|throttle|strangle) (?:him|her|them|my)\b",
        r"\bva a matar a\b", r"\blo voy a matar\b", r"\bla voy a matar\b",
        r"\bmaar (?:dega|degi|dunga|dungi|daalega|dalega)\b", r"मार (?:देगा|देगी|दूँगा|दूंगा|डालेगा)",
    )),
    ("threat_now", "harm_to_others", "imminent", set(), p(
        r"\b(?:kill|hurt|stab|shoot)\b[^.!?]{0,40}\b(?:at|outside) (?:his|her|their) (?:door|house|place|flat)\b",
        r"\b(?:knife|gun|weapon)\b[^.!?]{0,15}\bin my hand\b",
        r"\b(?:driving|on my way|heading|going) (?:over )?to (?:his|her|their) (?:place|house|flat|work)\b[^.!?]{0,40}\b(?:hurt|kill|get)\b",
        r"\bgoing to (?:hurt|kill) (?:him|her|them)\b[^.!?]{0,10}\b(?:tonight|right now|now)\b",
        r"\b(?:tonight|right now)\b[^.!?]{0,40}\bgoing to (?:hurt|kill) (?:him|her|them)\b",
        r"\bva a matar\b[^.!?]{0,40}\b(?:acaba de salir|ya sali[oó]|ahora)\b",
        r"\bmaar (?:dega|dalega|daalega)\b[^.!?]{0,30}\babhi\b", r"मार (?:देगा|डालेगा)[^।]{0,30}अभी",
    )),
    # -- abuse -----------------------------------------------------------------------------------
    ("abuse_fear", "abuse", "concern", set(), p(
        r"\b(?:scared|afraid|frightened|terrified) (?:to (?:go|going|be) home|of going home|to say anything at home)\b",
        r"\b(?:afraid|scared) to say anything\b",
        r"\b(?:shouts|yells|screams) at (?:her|him|them)\b",
        r"\bmoney (?:keeps|kept|has been|is) (?:going|gone|went) missing\b",
        r"घर (?:में|मे) डर", r"\bghar (?:mein|me) dar\b",
        r"\b(?:was|were|being) abused\b",
    )),
    ("abuse", "abuse", "elevated", {"history"}, p(
        r"\b(?:partner|husband|wife|boyfriend|girlfriend|dad|father|stepdad|stepfather|mum|mom|mother|stepmum|uncle|brother|he|she)\b (?:\w+ ){0,2}?(?:hits|hit|beats|beat|slaps|slapped|kicks|kicked|punches|punched|chokes|choked|hurts|shoved|pushed|strangled) (?:me|her|him)\b",
        r"\bcomes into my room at night\b",
        r"\bcontrols (?:all )?(?:of )?(?:our|my|the) money\b", r"\bwon'?t let me (?:see|talk to) (?:my )?(?:friends|family)\b",
        r"\b(?:is|was|has been|keeps) abusing\b", r"\b(?:was|is|has been) abusive\b",
        r"\b(?:often |always |keeps |has )*(?:has|with|covered in) bruises\b",
        r"\bno me siento (?:segur[ao]) en casa\b", r"\b(?:me pega|me golpea|me maltrata)\b",
        r"मुझे मारता है", r"मुझे मारती है", r"\bmujhe (?:maarta|marta|peet(?:ta)?) hai\b",
        r"\b(?:don'?t|do not) feel safe at home\b",
    )),
    ("abuse_now", "abuse", "imminent", set(), p(
        r"\b(?:banging|pounding|kicking) (?:on )?(?:the|my) door\b",
        r"\bthreatening me right now\b", r"\b(?:he|she)(?:'s| is) (?:hitting|attacking) me (?:right )?now\b",
    )),
    ("abuse_fear_es", "abuse", "concern", set(), p(r"\btengo miedo de volver a casa\b")),
]

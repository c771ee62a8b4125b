//! Deterministic, realistic demo data for the built-in objects (account, contact, lead, deal, activity).
//!
//! Everything is derived from one seed through a [`StdRng`], and "now" is the fixed [`REFERENCE_DATE`]
//! instead of the clock, so the same `(seed, contacts)` always yields byte-identical data: demos,
//! screenshots and benchmarks are reproducible.
//!
//! Values are produced to validate against `model::builtin` exactly: only field names defined there,
//! enum values copied from its option lists (see the constants below and the `field_names_per_object`
//! test), dates as `YYYY-MM-DD`, datetimes as RFC 3339 UTC, lower-case ASCII emails, `+CC ...` phones.
//!
//! Reference fields are not put into `fields`: they are returned in [`DemoRecord::refs`] as indices into
//! the vectors of [`DemoData`], and the caller resolves them to record ids. References only point to
//! vectors inserted earlier in the order accounts, contacts, leads, deals, activities.
//!
//! All name, city and text tables are `const` slices, so nothing big is built or allocated per record;
//! per call there is only the RNG, a few index vectors, and hash sets that keep emails, phones,
//! national ids and account domains unique. Most of the run time is spent building the `serde_json`
//! maps themselves (about 0.8 s for 100k contacts, i.e. about 370k records, on a small 2-vCPU VM).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Generated records, in insertion order: accounts, contacts, leads, deals, activities.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DemoData {
    pub accounts: Vec<DemoRecord>,
    pub contacts: Vec<DemoRecord>,
    pub leads: Vec<DemoRecord>,
    pub deals: Vec<DemoRecord>,
    pub activities: Vec<DemoRecord>,
}

/// One record: plain field values, plus reference fields still to be resolved into record ids.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DemoRecord {
    pub fields: Map<String, Value>,
    /// `(field name, target)`; the target always lives in a vector inserted before this record's.
    pub refs: Vec<(String, DemoRef)>,
}

/// A reference to another generated record, by index into the corresponding vector of [`DemoData`].
///
/// `Lead` is part of the API for callers that attach their own records to leads; the generator itself
/// links activities to contacts only, because the activity's subject is inherited from its contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoRef {
    Account(usize),
    Contact(usize),
    Lead(usize),
    Deal(usize),
}

/// "Today" for the generated data (activities lie in the year before, deals close around it).
pub const REFERENCE_DATE: (i32, u32, u32) = (2026, 11, 1);

// Option lists copied from model/builtin.rs (kept literal so this module stands alone). The code picks
// values with weights next to each choice; the tests check every generated value against these lists.
#[cfg(test)]
const PREFERRED_LANGUAGES: &[&str] = &["en", "zh", "de", "fr", "es", "ja"];
#[cfg(test)]
const LIFECYCLE_STAGES: &[&str] = &["subscriber", "lead", "opportunity", "customer", "former_customer"];
#[cfg(test)]
const LEAD_SOURCES: &[&str] =
    &["web_form", "referral", "event", "cold_call", "partner", "advertising", "api", "import"];
#[cfg(test)]
const LEAD_STAGES: &[&str] = &["new", "contacted", "qualified", "unqualified", "converted"];
#[cfg(test)]
const DEAL_STAGES: &[&str] = &["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"];
const ACTIVITY_KINDS: &[&str] = &["call", "email", "meeting", "note", "task"];
#[cfg(test)]
const CURRENCIES: &[&str] = &["CNY", "USD", "EUR", "GBP", "JPY"];
#[cfg(test)]
const INDUSTRIES: &[&str] = &[
    "software", "manufacturing", "retail", "finance", "healthcare", "education", "logistics", "energy", "media",
    "public_sector", "other",
];

/// Generate a demo data set for `contacts` contacts: about contacts/8 accounts, contacts/4 leads,
/// contacts/3 deals and two activities per contact. Identical output for identical arguments.
pub fn generate(seed: u64, contacts: usize) -> DemoData {
    let mut g = Gen::new(seed, contacts);
    let mut data = DemoData::default();

    let n_accounts = if contacts == 0 { 0 } else { contacts.div_ceil(8) };
    let mut companies = Vec::with_capacity(n_accounts);
    data.accounts.reserve(n_accounts);
    for _ in 0..n_accounts {
        let country = g.random_country();
        let c = g.company(country, true);
        data.accounts.push(g.account_record(&c));
        companies.push(c);
    }

    // Where each contact works and lives is decided before the deals, and the contact records are built
    // after them, so a contact's lifecycle stage can follow from its deals without revisiting records.
    let plans: Vec<Plan> = (0..contacts).map(|_| g.plan(&companies)).collect();
    let mut by_account: Vec<Vec<usize>> = vec![Vec::new(); n_accounts];
    for (i, p) in plans.iter().enumerate() {
        if let Some(a) = p.account {
            by_account[a].push(i);
        }
    }

    let n_deals = if n_accounts == 0 { 0 } else { contacts / 3 };
    let with_contacts: Vec<usize> = (0..n_accounts).filter(|&a| !by_account[a].is_empty()).collect();
    let mut deals_of_contact: Vec<Vec<usize>> = vec![Vec::new(); contacts];
    let mut account_won = vec![false; n_accounts];
    let mut account_open = vec![false; n_accounts];
    let mut deal_metas = Vec::with_capacity(n_deals);
    data.deals.reserve(n_deals);
    for d in 0..n_deals {
        let account = if !with_contacts.is_empty() && g.rng.gen_bool(0.9) {
            g.pick(&with_contacts)
        } else {
            g.rng.gen_range(0..n_accounts)
        };
        let members = &by_account[account];
        let contact = if !members.is_empty() && g.rng.gen_bool(0.95) { Some(g.pick(members)) } else { None };
        let (rec, meta) = g.deal(&companies[account], account, contact);
        match meta.stage {
            "closed_won" => account_won[account] = true,
            "closed_lost" => {}
            _ => account_open[account] = true,
        }
        if let Some(c) = contact {
            deals_of_contact[c].push(d);
        }
        data.deals.push(rec);
        deal_metas.push(meta);
    }

    let mut metas = Vec::with_capacity(contacts);
    data.contacts.reserve(contacts);
    for (i, plan) in plans.iter().enumerate() {
        // A contact is a customer when one of their deals was won, an opportunity while one is open;
        // colleagues of customers are often customers too.
        let mut stages = deals_of_contact[i].iter().map(|&d| deal_metas[d].stage);
        let has_deals = !deals_of_contact[i].is_empty();
        let stage = if stages.clone().any(|s| s == "closed_won") {
            "customer"
        } else if stages.any(|s| s != "closed_lost") {
            "opportunity"
        } else if let Some(a) = plan.account {
            if account_won[a] && g.rng.gen_bool(0.7) {
                "customer"
            } else if account_open[a] && g.rng.gen_bool(0.5) {
                "opportunity"
            } else if has_deals {
                g.pick(&["lead", "former_customer"])
            } else {
                g.weighted(&[("lead", 4), ("subscriber", 2), ("former_customer", 1)])
            }
        } else {
            g.pick(&["subscriber", "lead"])
        };
        let (rec, meta) = g.contact(plan, &companies, stage);
        data.contacts.push(rec);
        metas.push(meta);
    }

    let n_leads = contacts / 4;
    data.leads.reserve(n_leads);
    // Lead emails must not collide with each other, so each duplicated contact is reused only once.
    let mut duplicated = HashSet::new();
    for _ in 0..n_leads {
        let rec = if contacts > 0 && g.rng.gen_bool(0.02) {
            let c = g.rng.gen_range(0..contacts);
            if duplicated.insert(c) {
                g.duplicate_lead(&data.contacts[c], &plans[c], &metas[c], &companies)
            } else {
                g.lead(&companies)
            }
        } else {
            g.lead(&companies)
        };
        data.leads.push(rec);
    }

    data.activities.reserve(contacts * 2);
    for (c, meta) in metas.iter().enumerate() {
        let k = g.rng.gen_range(0..=4);
        for _ in 0..k {
            let rec = g.activity(c, meta, &deals_of_contact[c], &deal_metas);
            data.activities.push(rec);
        }
    }
    data
}

// ---------------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Country {
    Cn,
    Us,
    Gb,
    De,
}

impl Country {
    /// ISO 3166-1 alpha-2: what `address_country` holds.
    fn code(self) -> &'static str {
        match self {
            Country::Cn => "CN",
            Country::Us => "US",
            Country::Gb => "GB",
            Country::De => "DE",
        }
    }
    fn currency(self) -> &'static str {
        match self {
            Country::Cn => "CNY",
            Country::Us => "USD",
            Country::Gb => "GBP",
            Country::De => "EUR",
        }
    }
    /// Units of the local currency per US dollar (rough, only to keep amounts plausible).
    fn per_usd(self) -> f64 {
        match self {
            Country::Cn => 7.1,
            Country::Us => 1.0,
            Country::Gb => 0.79,
            Country::De => 0.92,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Zh,
    De,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
            Lang::De => "de",
        }
    }
    fn idx(self) -> usize {
        self as usize
    }
}

struct CnCity {
    /// "杭州市"
    name: &'static str,
    /// "杭州", used in company names.
    short: &'static str,
    pinyin: &'static str,
    region: &'static str,
    /// Telephone area code without the trunk 0.
    area: &'static str,
    territory: &'static str,
    /// (district, 6-digit administrative code used as the id number prefix, postal code)
    districts: &'static [(&'static str, &'static str, &'static str)],
}

#[rustfmt::skip]
const CN_CITIES: &[CnCity] = &[
    CnCity { name: "北京市", short: "北京", pinyin: "Beijing", region: "北京市", area: "10", territory: "APAC-North",
        districts: &[("朝阳区", "110105", "100020"), ("海淀区", "110108", "100080"), ("东城区", "110101", "100010")] },
    CnCity { name: "上海市", short: "上海", pinyin: "Shanghai", region: "上海市", area: "21", territory: "APAC-East",
        districts: &[("浦东新区", "310115", "200120"), ("徐汇区", "310104", "200030"), ("静安区", "310106", "200040")] },
    CnCity { name: "杭州市", short: "杭州", pinyin: "Hangzhou", region: "浙江省", area: "571", territory: "APAC-East",
        districts: &[("西湖区", "330106", "310012"), ("滨江区", "330108", "310051"), ("上城区", "330102", "310002")] },
    CnCity { name: "深圳市", short: "深圳", pinyin: "Shenzhen", region: "广东省", area: "755", territory: "APAC-South",
        districts: &[("南山区", "440305", "518057"), ("福田区", "440304", "518048")] },
    CnCity { name: "广州市", short: "广州", pinyin: "Guangzhou", region: "广东省", area: "20", territory: "APAC-South",
        districts: &[("天河区", "440106", "510620"), ("越秀区", "440104", "510030")] },
    CnCity { name: "南京市", short: "南京", pinyin: "Nanjing", region: "江苏省", area: "25", territory: "APAC-East",
        districts: &[("玄武区", "320102", "210018"), ("鼓楼区", "320106", "210008")] },
    CnCity { name: "苏州市", short: "苏州", pinyin: "Suzhou", region: "江苏省", area: "512", territory: "APAC-East",
        districts: &[("姑苏区", "320508", "215000"), ("吴中区", "320506", "215100")] },
    CnCity { name: "成都市", short: "成都", pinyin: "Chengdu", region: "四川省", area: "28", territory: "APAC-West",
        districts: &[("武侯区", "510107", "610041"), ("锦江区", "510104", "610021")] },
    CnCity { name: "重庆市", short: "重庆", pinyin: "Chongqing", region: "重庆市", area: "23", territory: "APAC-West",
        districts: &[("渝中区", "500103", "400010"), ("江北区", "500105", "400020")] },
    CnCity { name: "武汉市", short: "武汉", pinyin: "Wuhan", region: "湖北省", area: "27", territory: "APAC-Central",
        districts: &[("武昌区", "420106", "430071"), ("洪山区", "420111", "430070")] },
    CnCity { name: "西安市", short: "西安", pinyin: "Xi'an", region: "陕西省", area: "29", territory: "APAC-North",
        districts: &[("雁塔区", "610113", "710061"), ("碑林区", "610103", "710001")] },
    CnCity { name: "天津市", short: "天津", pinyin: "Tianjin", region: "天津市", area: "22", territory: "APAC-North",
        districts: &[("和平区", "120101", "300040"), ("南开区", "120104", "300100")] },
];

const CN_ROADS: &[&str] = &[
    "人民路", "中山路", "解放路", "建设路", "长江路", "新华路", "文化路", "科技路", "学院路", "南京路", "文三路",
    "天府大道", "高新大道", "滨江路", "东风路", "和平路", "江南大道", "世纪大道", "创业路", "黄河路",
];

struct WestCity {
    country: Country,
    name: &'static str,
    region: &'static str,
    area: &'static str,
    territory: &'static str,
    /// Hours from UTC during standard time (daylight saving is ignored: only business hours matter).
    utc_offset: i64,
    /// US: 3-digit ZIP prefix; GB: outward code; DE: full postcode.
    postal: &'static [&'static str],
}

#[rustfmt::skip]
const WEST_CITIES: &[WestCity] = &[
    WestCity { country: Country::Us, name: "San Francisco", region: "CA", area: "415", territory: "NA-West", utc_offset: -8, postal: &["941"] },
    WestCity { country: Country::Us, name: "Seattle", region: "WA", area: "206", territory: "NA-West", utc_offset: -8, postal: &["981"] },
    WestCity { country: Country::Us, name: "Los Angeles", region: "CA", area: "213", territory: "NA-West", utc_offset: -8, postal: &["900"] },
    WestCity { country: Country::Us, name: "Denver", region: "CO", area: "303", territory: "NA-Central", utc_offset: -7, postal: &["802"] },
    WestCity { country: Country::Us, name: "Austin", region: "TX", area: "512", territory: "NA-Central", utc_offset: -6, postal: &["787"] },
    WestCity { country: Country::Us, name: "Chicago", region: "IL", area: "312", territory: "NA-Central", utc_offset: -6, postal: &["606"] },
    WestCity { country: Country::Us, name: "New York", region: "NY", area: "212", territory: "NA-East", utc_offset: -5, postal: &["100"] },
    WestCity { country: Country::Us, name: "Boston", region: "MA", area: "617", territory: "NA-East", utc_offset: -5, postal: &["021"] },
    WestCity { country: Country::Us, name: "Atlanta", region: "GA", area: "404", territory: "NA-East", utc_offset: -5, postal: &["303"] },
    WestCity { country: Country::Gb, name: "London", region: "Greater London", area: "20", territory: "EMEA-UKI", utc_offset: 0, postal: &["EC2A", "EC1V", "SW1A", "W1D", "N1", "E14", "SE1"] },
    WestCity { country: Country::Gb, name: "Manchester", region: "Greater Manchester", area: "161", territory: "EMEA-UKI", utc_offset: 0, postal: &["M1", "M2", "M4"] },
    WestCity { country: Country::Gb, name: "Birmingham", region: "West Midlands", area: "121", territory: "EMEA-UKI", utc_offset: 0, postal: &["B1", "B2", "B3"] },
    WestCity { country: Country::Gb, name: "Edinburgh", region: "Scotland", area: "131", territory: "EMEA-UKI", utc_offset: 0, postal: &["EH1", "EH2", "EH3"] },
    WestCity { country: Country::Gb, name: "Bristol", region: "Bristol", area: "117", territory: "EMEA-UKI", utc_offset: 0, postal: &["BS1", "BS2", "BS8"] },
    WestCity { country: Country::De, name: "Berlin", region: "Berlin", area: "30", territory: "EMEA-DACH", utc_offset: 1, postal: &["10115", "10178", "10435", "10785", "10997"] },
    WestCity { country: Country::De, name: "München", region: "Bayern", area: "89", territory: "EMEA-DACH", utc_offset: 1, postal: &["80331", "80469", "80797", "81669"] },
    WestCity { country: Country::De, name: "Hamburg", region: "Hamburg", area: "40", territory: "EMEA-DACH", utc_offset: 1, postal: &["20095", "20354", "22767"] },
    WestCity { country: Country::De, name: "Frankfurt am Main", region: "Hessen", area: "69", territory: "EMEA-DACH", utc_offset: 1, postal: &["60311", "60313", "60486"] },
    WestCity { country: Country::De, name: "Köln", region: "Nordrhein-Westfalen", area: "221", territory: "EMEA-DACH", utc_offset: 1, postal: &["50667", "50672", "50823"] },
    WestCity { country: Country::De, name: "Stuttgart", region: "Baden-Württemberg", area: "711", territory: "EMEA-DACH", utc_offset: 1, postal: &["70173", "70178", "70469"] },
];

const US_STREETS: &[&str] = &[
    "Market", "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Park", "Mission", "Broadway",
    "Spring", "Congress", "Peachtree", "Madison",
];
const US_STREET_TYPES: &[&str] = &["St", "Ave", "Blvd", "Rd", "Way"];
const GB_STREETS: &[&str] = &[
    "High", "Station", "Church", "Victoria", "Queen's", "King", "Mill", "Park", "Oxford", "Albert", "George", "Castle",
];
const GB_STREET_TYPES: &[&str] = &["Street", "Road", "Lane", "Place"];
const DE_STREETS: &[&str] = &[
    "Haupt", "Bahnhof", "Schiller", "Goethe", "Garten", "Friedrich", "Linden", "Kirch", "Wald", "Rosen", "Mozart",
    "Kant",
];
const DE_STREET_TYPES: &[&str] = &["straße", "weg", "allee"];

#[rustfmt::skip]
const CN_SURNAMES: &[(&str, &str)] = &[
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("赵", "zhao"),
    ("黄", "huang"), ("周", "zhou"), ("吴", "wu"), ("徐", "xu"), ("孙", "sun"), ("胡", "hu"), ("朱", "zhu"),
    ("高", "gao"), ("林", "lin"), ("何", "he"), ("郭", "guo"), ("马", "ma"), ("罗", "luo"), ("梁", "liang"),
    ("宋", "song"), ("郑", "zheng"), ("谢", "xie"), ("韩", "han"), ("唐", "tang"), ("冯", "feng"), ("于", "yu"),
    ("董", "dong"), ("萧", "xiao"), ("程", "cheng"), ("曹", "cao"), ("袁", "yuan"), ("邓", "deng"), ("许", "xu"),
    ("傅", "fu"), ("沈", "shen"), ("曾", "zeng"), ("彭", "peng"), ("吕", "lv"), ("苏", "su"), ("卢", "lu"),
    ("蒋", "jiang"), ("蔡", "cai"), ("贾", "jia"), ("丁", "ding"), ("魏", "wei"), ("薛", "xue"), ("叶", "ye"),
    ("潘", "pan"),
];
#[rustfmt::skip]
const CN_MALE: &[(&str, &str)] = &[
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("勇", "yong"), ("杰", "jie"), ("涛", "tao"),
    ("斌", "bin"), ("超", "chao"), ("明", "ming"), ("刚", "gang"), ("平", "ping"), ("辉", "hui"), ("鹏", "peng"),
    ("浩", "hao"), ("宇", "yu"), ("俊", "jun"), ("峰", "feng"), ("建", "jian"), ("国", "guo"), ("志", "zhi"),
    ("文", "wen"), ("博", "bo"), ("翔", "xiang"), ("凯", "kai"), ("毅", "yi"), ("晨", "chen"), ("阳", "yang"),
];
#[rustfmt::skip]
const CN_FEMALE: &[(&str, &str)] = &[
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("艳", "yan"), ("娟", "juan"),
    ("霞", "xia"), ("燕", "yan"), ("玲", "ling"), ("婷", "ting"), ("雪", "xue"), ("慧", "hui"), ("颖", "ying"),
    ("琳", "lin"), ("欣", "xin"), ("倩", "qian"), ("晶", "jing"), ("佳", "jia"), ("悦", "yue"), ("萍", "ping"),
    ("红", "hong"), ("梅", "mei"), ("洁", "jie"), ("璐", "lu"), ("蕾", "lei"), ("琪", "qi"), ("瑶", "yao"),
];
/// Characters common as the first of two given-name characters for anyone.
#[rustfmt::skip]
const CN_NEUTRAL: &[(&str, &str)] = &[
    ("子", "zi"), ("晓", "xiao"), ("嘉", "jia"), ("雨", "yu"), ("思", "si"), ("一", "yi"), ("天", "tian"),
    ("泽", "ze"), ("诗", "shi"), ("梓", "zi"), ("家", "jia"), ("海", "hai"), ("春", "chun"), ("立", "li"),
];

const EN_MALE: &[&str] = &[
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Daniel", "Matthew",
    "Andrew", "Christopher", "Mark", "Paul", "Steven", "Kevin", "Brian", "George", "Edward", "Oliver", "Harry", "Jack",
    "Samuel", "Ryan", "Nathan", "Ethan", "Lucas",
];
const EN_FEMALE: &[&str] = &[
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Susan", "Jessica", "Sarah", "Karen", "Emily", "Emma",
    "Olivia", "Sophie", "Charlotte", "Amelia", "Hannah", "Rachel", "Laura", "Megan", "Rebecca", "Lucy", "Grace",
    "Chloe", "Natalie", "Victoria", "Amy", "Katherine", "Zoe",
];
const EN_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Wilson",
    "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Carter",
    "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart",
    "Murphy", "Cook", "Morgan", "Cooper", "Reed", "Bailey", "Bell", "Kelly", "Howard", "Ward", "Richardson", "Wood",
    "Watson", "Brooks", "Bennett", "Gray", "Hughes", "Price", "Patel", "Khan", "O'Brien", "Davies", "Robinson",
    "Clarke", "Hill", "Morris", "Harrison", "Murray",
];
const DE_MALE: &[&str] = &[
    "Lukas", "Maximilian", "Felix", "Jonas", "Leon", "Paul", "Tobias", "Florian", "Stefan", "Andreas", "Michael",
    "Thomas", "Christian", "Sebastian", "Matthias", "Jan", "Tim", "Niklas", "Jürgen", "Klaus", "Wolfgang", "Uwe",
    "Markus", "Frank",
];
const DE_FEMALE: &[&str] = &[
    "Anna", "Laura", "Julia", "Lena", "Sarah", "Katharina", "Lisa", "Hannah", "Sophie", "Marie", "Johanna", "Claudia",
    "Sabine", "Petra", "Monika", "Andrea", "Susanne", "Jana", "Franziska", "Birgit", "Nicole", "Stefanie", "Anja",
    "Kerstin",
];
const DE_LAST: &[&str] = &[
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Schäfer",
    "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger",
    "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Schmid", "Schulze",
    "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz",
    "Möller", "Weiß", "Jung", "Hahn", "Vogel",
];

/// Chinese brand syllables (characters, pinyin) combined in pairs: "蓝鑫" / "Lanxin".
#[rustfmt::skip]
const CN_BRAND: &[(&str, &str)] = &[
    ("蓝", "lan"), ("鑫", "xin"), ("华", "hua"), ("创", "chuang"), ("智", "zhi"), ("云", "yun"), ("达", "da"),
    ("恒", "heng"), ("瑞", "rui"), ("博", "bo"), ("远", "yuan"), ("天", "tian"), ("海", "hai"), ("星", "xing"),
    ("中", "zhong"), ("信", "xin"), ("源", "yuan"), ("泰", "tai"), ("鼎", "ding"), ("安", "an"), ("盛", "sheng"),
    ("联", "lian"), ("科", "ke"), ("新", "xin"), ("腾", "teng"), ("宏", "hong"), ("德", "de"), ("汇", "hui"),
    ("通", "tong"), ("诚", "cheng"), ("启", "qi"), ("明", "ming"), ("峰", "feng"), ("合", "he"), ("乐", "le"),
    ("众", "zhong"), ("优", "you"), ("银", "yin"), ("金", "jin"), ("辰", "chen"),
];
/// (Chinese, English, industry option, domain part)
const CN_INDUSTRY: &[(&str, &str, &str, &str)] = &[
    ("科技", "Technology", "software", "tech"),
    ("软件", "Software", "software", "soft"),
    ("信息技术", "Information Technology", "software", "it"),
    ("智能制造", "Intelligent Manufacturing", "manufacturing", "im"),
    ("机械", "Machinery", "manufacturing", "machinery"),
    ("电子", "Electronics", "manufacturing", "elec"),
    ("商贸", "Trading", "retail", "trade"),
    ("零售", "Retail", "retail", "retail"),
    ("物流", "Logistics", "logistics", "logistics"),
    ("供应链管理", "Supply Chain Management", "logistics", "scm"),
    ("医疗器械", "Medical Devices", "healthcare", "med"),
    ("生物医药", "Biopharmaceutical", "healthcare", "bio"),
    ("教育科技", "Education Technology", "education", "edu"),
    ("新能源", "New Energy", "energy", "energy"),
    ("文化传媒", "Culture Media", "media", "media"),
    ("金融服务", "Financial Services", "finance", "fin"),
    ("管理咨询", "Management Consulting", "other", "consulting"),
];
const WEST_BRAND_A: &[&str] = &[
    "North", "Blue", "Iron", "Silver", "Red", "Green", "Bright", "Clear", "Stone", "Oak", "Pine", "Summit", "Harbor",
    "River", "Eagle", "Falcon", "Cedar", "Maple", "Granite", "Sun", "Star", "Crest", "West", "East", "True", "Swift",
    "High", "Fair", "Gold", "Black",
];
const WEST_BRAND_B: &[&str] = &[
    "wind", "fin", "bridge", "lake", "field", "point", "gate", "wood", "stone", "ridge", "view", "wave", "line",
    "path", "peak", "rock", "brook", "hill", "well", "side", "mark", "light", "way", "ford", "water", "vale", "spring",
    "shore", "haven", "land",
];
/// (English word, industry option)
#[rustfmt::skip]
const EN_INDUSTRY: &[(&str, &str)] = &[
    ("Logistics", "logistics"), ("Freight", "logistics"), ("Software", "software"), ("Systems", "software"),
    ("Analytics", "software"), ("Labs", "software"), ("Health", "healthcare"), ("Medical", "healthcare"),
    ("Energy", "energy"), ("Solar", "energy"), ("Media", "media"), ("Retail", "retail"), ("Foods", "retail"),
    ("Capital", "finance"), ("Financial", "finance"), ("Manufacturing", "manufacturing"),
    ("Industries", "manufacturing"), ("Learning", "education"), ("Consulting", "other"),
];
#[rustfmt::skip]
const DE_INDUSTRY: &[(&str, &str)] = &[
    ("Logistik", "logistics"), ("Maschinenbau", "manufacturing"), ("Software", "software"), ("Systeme", "software"),
    ("Medizintechnik", "healthcare"), ("Energie", "energy"), ("Handel", "retail"), ("Beratung", "other"),
    ("Finanz", "finance"), ("Medien", "media"),
];

const CN_PROVIDERS: &[&str] =
    &["qq.com", "qq.com", "qq.com", "163.com", "163.com", "126.com", "foxmail.com", "sina.com", "outlook.com"];
const US_PROVIDERS: &[&str] =
    &["gmail.com", "gmail.com", "gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com"];
const GB_PROVIDERS: &[&str] = &["gmail.com", "gmail.com", "outlook.com", "btinternet.com", "yahoo.co.uk", "icloud.com"];
const DE_PROVIDERS: &[&str] = &["gmx.de", "gmx.de", "web.de", "web.de", "gmail.com", "t-online.de", "outlook.de"];

/// (English name, Chinese name, weight, titles as (English, Chinese)).
type Department = (&'static str, &'static str, u32, &'static [(&'static str, &'static str)]);

/// Departments and their titles, English and Chinese in parallel.
const DEPARTMENTS: &[Department] = &[
    (
        "Sales",
        "销售部",
        22,
        &[
            ("Sales Director", "销售总监"),
            ("Account Executive", "客户经理"),
            ("Sales Manager", "销售经理"),
            ("Key Account Manager", "大客户经理"),
            ("Business Development Manager", "商务拓展经理"),
        ],
    ),
    (
        "Marketing",
        "市场部",
        12,
        &[
            ("Marketing Director", "市场总监"),
            ("Marketing Manager", "市场经理"),
            ("Brand Manager", "品牌经理"),
            ("Marketing Specialist", "市场专员"),
        ],
    ),
    (
        "IT",
        "信息技术部",
        14,
        &[
            ("CIO", "首席信息官"),
            ("IT Manager", "IT经理"),
            ("Systems Administrator", "系统管理员"),
            ("Head of IT", "信息中心主任"),
        ],
    ),
    (
        "Engineering",
        "研发部",
        12,
        &[
            ("CTO", "技术总监"),
            ("Software Engineer", "软件工程师"),
            ("Engineering Manager", "研发经理"),
            ("Solutions Architect", "解决方案架构师"),
        ],
    ),
    (
        "Finance",
        "财务部",
        10,
        &[
            ("CFO", "财务总监"),
            ("Finance Manager", "财务经理"),
            ("Procurement Manager", "采购经理"),
            ("Financial Controller", "会计主管"),
        ],
    ),
    (
        "Operations",
        "运营部",
        10,
        &[("COO", "运营总监"), ("Operations Manager", "运营经理"), ("Logistics Coordinator", "物流主管")],
    ),
    (
        "Human Resources",
        "人力资源部",
        7,
        &[
            ("HR Director", "人力资源总监"),
            ("Recruiting Manager", "招聘经理"),
            ("HR Business Partner", "人力资源业务伙伴"),
        ],
    ),
    (
        "Customer Service",
        "客户服务部",
        8,
        &[
            ("Customer Success Manager", "客户成功经理"),
            ("Support Team Lead", "客服主管"),
            ("Head of Customer Service", "服务总监"),
        ],
    ),
    ("Executive", "总经办", 5, &[("CEO", "总经理"), ("Managing Director", "副总经理"), ("Founder", "董事长")]),
];

const CONTACT_TAGS: &[&str] = &[
    "vip", "newsletter", "decision-maker", "influencer", "technical", "champion", "event-2026", "webinar",
    "beta-tester", "churn-risk", "budget-holder", "referral",
];
const ACCOUNT_TAGS: &[&str] = &["key-account", "partner", "reseller", "strategic", "public-company", "renewal-2027"];
const LEAD_TAGS: &[&str] = &["webinar", "trade-show", "inbound", "outbound", "enterprise", "smb", "follow-up"];
const DEAL_TAGS: &[&str] = &["strategic", "competitive", "partner-sourced", "q4-push", "multi-year"];

/// Deal products: (English, Chinese, German, tag that goes with it).
const PRODUCTS: &[(&str, &str, &str, &str)] = &[
    ("CRM Enterprise", "CRM 企业版", "CRM Enterprise", "new-business"),
    ("Annual Renewal", "年度订阅续约", "Jahresverlängerung", "renewal"),
    ("Data Platform Pilot", "数据平台试点", "Pilotprojekt Datenplattform", "new-business"),
    ("Seat Expansion", "席位扩容", "Lizenzerweiterung", "upsell"),
    ("Implementation Services", "实施服务", "Implementierungsleistungen", "services"),
    ("Premium Support", "高级技术支持", "Premium-Support", "upsell"),
    ("SSO & Audit Add-on", "单点登录与审计模块", "SSO- und Audit-Modul", "upsell"),
];

const CONTACT_NOTES: [&[&str]; 3] = [
    &[
        "Met at the Web Summit booth.",
        "Prefers calls in the morning.",
        "Was a customer at a previous company.",
        "Speaks at industry events; good reference.",
        "Assistant handles scheduling.",
    ],
    &[
        "在展会上认识。",
        "偏好上午电话沟通。",
        "曾在上一家公司使用过我们的产品。",
        "行业活动常客，可作为参考客户。",
        "日程由助理安排。",
    ],
    &[
        "Auf der Messe kennengelernt.",
        "Bevorzugt Anrufe am Vormittag.",
        "War beim früheren Arbeitgeber bereits Kunde.",
        "Spricht regelmäßig auf Branchenevents.",
        "Termine über die Assistenz.",
    ],
];
const LEAD_NOTES: [&[&str]; 3] = [
    &[
        "Downloaded the data protection whitepaper.",
        "Met at the booth, interested in a demo.",
        "Asked for pricing for 20 seats.",
        "Currently on a spreadsheet-based process.",
    ],
    &["下载了数据保护白皮书。", "展会现场交流，希望预约演示。", "咨询20个席位的报价。", "目前用表格管理客户。"],
    &[
        "Whitepaper Datenschutz heruntergeladen.",
        "Am Messestand, möchte eine Demo.",
        "Fragt nach Preisen für 20 Nutzer.",
        "Arbeitet bisher mit Excel-Listen.",
    ],
];

/// Activity texts: `[language][kind]` → (subject, body) pairs that belong together. `{name}` (how the
/// person is addressed) and `{topic}` (a product, the deal's when the activity is linked to one) are
/// filled in.
type Texts = &'static [(&'static str, &'static str)];
const ACTIVITY_TEXT: [[Texts; 5]; 3] = [
    [
        &[
            (
                "Intro call with {name}",
                "Walked through the current setup and pain points. Next step: a demo of {topic}.",
            ),
            (
                "Follow-up call: {topic}",
                "Discussed {topic}. {name} will loop in their finance team; follow up next week.",
            ),
            (
                "Check-in call with {name}",
                "Left a voicemail, {name} called back in the afternoon. Still interested in {topic}.",
            ),
            ("Discovery call", "{name} asked about data residency and SSO. Sent the docs afterwards."),
            ("Pricing questions about {topic}", "{name} needs a quote for 50 seats before the budget meeting."),
        ],
        &[
            (
                "Re: {topic}",
                "Hi {name}, following up on our conversation about {topic}. Does Thursday work for a quick call?",
            ),
            (
                "Proposal: {topic}",
                "Hi {name}, attached is our proposal for {topic}. Happy to walk you through it. Best regards",
            ),
            (
                "Meeting notes and next steps",
                "Hi {name}, thanks for your time today. Notes and next steps are below. Best regards",
            ),
            ("Your questions about {topic}", "Sent the updated quote and the security whitepaper."),
            ("Welcome aboard", "Hi {name}, welcome! Your onboarding contact will reach out this week."),
        ],
        &[
            ("Demo: {topic}", "Demo went well; {name} wants a trial for the team."),
            ("Quarterly business review", "Reviewed adoption numbers and the roadmap. Renewal discussion scheduled."),
            ("On-site workshop with {name}", "Workshop on {topic} with six attendees. Action items shared by email."),
            ("Kick-off meeting", "Agreed on the project plan for {topic}; weekly status calls on Mondays."),
            (
                "Contract review",
                "Went through the contract with {name} and their legal team. Two open points on liability.",
            ),
        ],
        &[
            ("Org chart update", "{name} reports to the CFO; purchases above 50k need board approval."),
            ("Competitor mention", "Currently evaluating two other vendors. Price sensitive."),
            ("Communication preferences", "Prefers email over phone. Out of office in August."),
            ("Budget info", "Budget for {topic} is approved for next quarter."),
        ],
        &[
            ("Send proposal to {name}", "Include pricing for 50 and 100 seats."),
            ("Prepare demo environment", "Load sample data for {topic} before the demo."),
            ("Follow up on {topic}", "Due before the next call."),
            ("Schedule QBR", "Find a slot with {name} and their team lead."),
            ("Update contract draft", "Check the DPA wording with legal."),
        ],
    ],
    [
        &[
            ("与{name}的初次通话", "梳理了现有流程和痛点，下一步安排{topic}演示。"),
            ("电话跟进：{topic}", "沟通了{topic}的需求，{name}下周会与财务确认预算。"),
            ("例行回访", "未接通，下午回电。{name}对{topic}仍有兴趣。"),
            ("需求沟通", "客户关心单点登录和数据本地化，已发送相关资料。"),
            ("{name}询问{topic}报价", "预算会前需要一份50个席位的报价。"),
        ],
        &[
            ("回复：{topic}", "{name}您好，跟进一下上次沟通的{topic}，周四是否方便电话沟通？"),
            ("{topic}方案及报价", "{name}您好，附件是{topic}的方案及报价，请查收。"),
            ("会议纪要及后续安排", "{name}您好，感谢今天抽出时间，会议纪要及后续安排见下文。"),
            ("关于{topic}的问题答复", "已发送更新后的报价单和安全白皮书。"),
            ("欢迎加入", "{name}您好，欢迎！实施顾问本周会与您联系。"),
        ],
        &[
            ("产品演示：{topic}", "演示顺利，{name}希望团队试用两周。"),
            ("季度业务回顾", "回顾了使用情况和产品路线图，已约续约沟通。"),
            ("与{name}现场交流", "围绕{topic}开展现场研讨，共六人参加，待办事项已邮件同步。"),
            ("项目启动会", "确定了{topic}项目计划，每周一例会同步进度。"),
            ("合同评审", "与{name}及法务逐条过了合同，责任条款还有两处待定。"),
        ],
        &[
            ("组织架构更新", "{name}向财务总监汇报，超过50万的采购需要董事会审批。"),
            ("竞品情况", "目前还在评估另外两家供应商，对价格较敏感。"),
            ("沟通偏好", "更喜欢微信和邮件沟通，八月休假。"),
            ("预算信息", "{topic}的预算已在下季度获批。"),
        ],
        &[
            ("给{name}发送方案", "报价包含50和100个席位两个档位。"),
            ("准备演示环境", "演示前导入{topic}的示例数据。"),
            ("跟进{topic}", "下次通话前完成。"),
            ("安排季度回顾会议", "与{name}及其团队负责人约时间。"),
            ("更新合同草稿", "与法务确认数据处理协议条款。"),
        ],
    ],
    [
        &[
            (
                "Erstgespräch mit {name}",
                "Aktuelle Prozesse und Probleme durchgesprochen. Nächster Schritt: Demo {topic}.",
            ),
            (
                "Telefonat: {topic}",
                "{topic} besprochen. {name} klärt das Budget mit der Finanzabteilung; nächste Woche nachfassen.",
            ),
            ("Rückruf von {name}", "Nicht erreicht, Rückruf am Nachmittag. Weiterhin Interesse an {topic}."),
            ("Bedarfsanalyse", "Fragen zu Datenschutz und SSO. Unterlagen im Anschluss geschickt."),
            ("Preisfragen zu {topic}", "{name} braucht vor der Budgetrunde ein Angebot für 50 Nutzer."),
        ],
        &[
            (
                "AW: {topic}",
                "Hallo {name}, ich wollte kurz zum Thema {topic} nachhaken. Passt Ihnen Donnerstag für ein kurzes Telefonat?",
            ),
            ("Angebot: {topic}", "Hallo {name}, anbei unser Angebot zu {topic}. Ich erläutere es gern. Viele Grüße"),
            (
                "Protokoll und nächste Schritte",
                "Hallo {name}, vielen Dank für das Gespräch. Protokoll und nächste Schritte unten. Viele Grüße",
            ),
            ("Ihre Fragen zu {topic}", "Aktualisiertes Angebot und Sicherheitsdokumentation verschickt."),
            (
                "Willkommen",
                "Hallo {name}, herzlich willkommen! Ihr Onboarding-Ansprechpartner meldet sich diese Woche.",
            ),
        ],
        &[
            ("Demo: {topic}", "Demo lief gut; {name} möchte einen Testzugang für das Team."),
            ("Quartalsreview", "Nutzung und Roadmap besprochen. Verlängerungsgespräch terminiert."),
            (
                "Workshop vor Ort mit {name}",
                "Workshop zum Thema {topic} mit sechs Teilnehmern. Aufgaben per E-Mail verteilt.",
            ),
            ("Kick-off-Termin", "Projektplan für {topic} abgestimmt; wöchentlicher Status montags."),
            (
                "Vertragsbesprechung",
                "Vertrag mit {name} und der Rechtsabteilung durchgegangen. Zwei offene Punkte zur Haftung.",
            ),
        ],
        &[
            ("Organigramm", "{name} berichtet an den CFO; Freigaben über 50.000 € brauchen den Vorstand."),
            ("Wettbewerb", "Vergleicht aktuell zwei weitere Anbieter. Preissensibel."),
            ("Kommunikation", "Bevorzugt E-Mail statt Telefon. Im August im Urlaub."),
            ("Budget", "Budget für {topic} ist für das nächste Quartal freigegeben."),
        ],
        &[
            ("Angebot an {name} senden", "Preise für 50 und 100 Nutzer aufnehmen."),
            ("Demo-Umgebung vorbereiten", "Beispieldaten für {topic} vor der Demo laden."),
            ("Nachfassen: {topic}", "Vor dem nächsten Termin erledigen."),
            ("Quartalsreview planen", "Termin mit {name} und der Teamleitung finden."),
            ("Vertragsentwurf aktualisieren", "AVV-Formulierung mit der Rechtsabteilung klären."),
        ],
    ],
];

// ---------------------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------------------

struct Company {
    name: String,
    /// Brand plus industry, without city or legal form: what people call it ("Northwind Logistics").
    short: String,
    domain: String,
    country: Country,
    /// Index into `CN_CITIES` or `WEST_CITIES`, depending on `country`.
    city: usize,
    industry: &'static str,
    /// Language of the name, used for deal names.
    lang: Lang,
}

struct Person {
    country: Country,
    male: bool,
    first: String,
    last: String,
    /// Lower-case ASCII forms for email addresses (pinyin for Chinese names).
    first_ascii: String,
    last_ascii: String,
    /// Initials of the given name ("xm" for Xiaoming), for addresses like "wangxm".
    initials: String,
    birthday: NaiveDate,
}

/// Where a contact works and lives, decided before its record is built.
struct Plan {
    account: Option<usize>,
    country: Country,
    /// Index into `CN_CITIES` or `WEST_CITIES`, depending on `country`.
    city: usize,
}

/// What later stages need to know about a contact without re-reading its fields.
struct ContactMeta {
    account: Option<usize>,
    lang: Lang,
    utc_offset: i64,
    /// How texts address the person: the given name, or the full name in Chinese.
    greet: String,
}

struct DealMeta {
    account: usize,
    stage: &'static str,
    product: usize,
}

/// A set of strings remembered by a 64-bit hash, so nothing is cloned to remember it. A collision
/// only makes a fresh value look taken and costs one more draw; it can never let a duplicate through.
struct Seen(HashSet<u64, BuildHasherDefault<PassThrough>>);

impl Seen {
    fn with_capacity(n: usize) -> Self {
        Seen(HashSet::with_capacity_and_hasher(n, BuildHasherDefault::default()))
    }
    /// FNV-1a with a final avalanche step (fixed, so output never depends on per-process hash keys).
    fn key(s: &str) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in s.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
    fn contains(&self, s: &str) -> bool {
        self.0.contains(&Self::key(s))
    }
    /// True when `s` was not seen before.
    fn insert(&mut self, s: &str) -> bool {
        self.0.insert(Self::key(s))
    }
    /// Like `insert`, for phone numbers: compared by their digits, as the phone blind index does.
    fn insert_digits(&mut self, s: &str) -> bool {
        let mut h: u64 = 0;
        for b in s.bytes().filter(u8::is_ascii_digit) {
            h = h * 10 + u64::from(b - b'0');
        }
        // Phone numbers have at most 17 digits, which fit a u64 exactly, and both mixing steps are
        // bijections: equal keys mean equal digits, so this set has no false collisions at all.
        h = (h ^ (h >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0.insert(h ^ (h >> 29))
    }
}

/// Hasher for keys that already are well-mixed 64-bit hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Field values of a record being built. Collecting them into the map in one go packs the B-tree
/// nodes, which makes the (very many) records a little smaller than inserting one by one.
type Fields = Vec<(String, Value)>;

struct Gen {
    rng: StdRng,
    /// Spare field buffer, reused from record to record.
    spare: Fields,
    emails: Seen,
    phones: Seen,
    national_ids: Seen,
    domains: Seen,
    /// Indices into `WEST_CITIES` for US, GB and DE.
    west: [Vec<usize>; 3],
    reference: NaiveDate,
}

impl Gen {
    fn new(seed: u64, contacts: usize) -> Self {
        let by = |c: Country| (0..WEST_CITIES.len()).filter(|&i| WEST_CITIES[i].country == c).collect::<Vec<_>>();
        let people = contacts + contacts / 4;
        Gen {
            rng: StdRng::seed_from_u64(seed),
            spare: Vec::new(),
            emails: Seen::with_capacity(people),
            phones: Seen::with_capacity(people * 2),
            national_ids: Seen::with_capacity(contacts),
            domains: Seen::with_capacity(contacts / 8 + 1),
            west: [by(Country::Us), by(Country::Gb), by(Country::De)],
            reference: NaiveDate::from_ymd_opt(REFERENCE_DATE.0, REFERENCE_DATE.1, REFERENCE_DATE.2)
                .expect("valid reference date"),
        }
    }

    fn fields(&mut self) -> Fields {
        std::mem::take(&mut self.spare)
    }

    fn finish(&mut self, mut f: Fields) -> Map<String, Value> {
        let map = f.drain(..).collect();
        self.spare = f;
        map
    }

    fn pick<T: Copy>(&mut self, s: &[T]) -> T {
        s[self.rng.gen_range(0..s.len())]
    }

    fn weighted<T: Copy>(&mut self, s: &[(T, u32)]) -> T {
        let total: u32 = s.iter().map(|x| x.1).sum();
        let mut r = self.rng.gen_range(0..total);
        for &(v, w) in s {
            if r < w {
                return v;
            }
            r -= w;
        }
        s[s.len() - 1].0
    }

    /// Index biased towards the start of a table, so the common names (listed first) are more common.
    fn front_biased(&mut self, len: usize) -> usize {
        let a = self.rng.gen_range(0..len);
        let b = self.rng.gen_range(0..len);
        a.min(b)
    }

    fn digits(&mut self, out: &mut String, n: usize) {
        for _ in 0..n {
            out.push(char::from(b'0' + self.rng.gen_range(0..10u8)));
        }
    }

    fn random_country(&mut self) -> Country {
        self.weighted(&[(Country::Cn, 50), (Country::Us, 25), (Country::Gb, 12), (Country::De, 13)])
    }

    fn random_city(&mut self, country: Country) -> usize {
        match country {
            Country::Cn => self.rng.gen_range(0..CN_CITIES.len()),
            Country::Us => self.west[0][self.rng.gen_range(0..self.west[0].len())],
            Country::Gb => self.west[1][self.rng.gen_range(0..self.west[1].len())],
            Country::De => self.west[2][self.rng.gen_range(0..self.west[2].len())],
        }
    }

    fn territory(country: Country, city: usize) -> &'static str {
        match country {
            Country::Cn => CN_CITIES[city].territory,
            _ => WEST_CITIES[city].territory,
        }
    }

    // --- people --------------------------------------------------------------------------------

    fn person(&mut self, country: Country) -> Person {
        let male = self.rng.gen_bool(0.5);
        // Birthdays 1955-01-01 ..= 2002-12-31.
        let start = NaiveDate::from_ymd_opt(1955, 1, 1).expect("date");
        let birthday = start + Duration::days(self.rng.gen_range(0..17_532));
        if country == Country::Cn {
            let (ln, lp) = CN_SURNAMES[self.front_biased(CN_SURNAMES.len())];
            let gendered = if male { CN_MALE } else { CN_FEMALE };
            let (mut first, mut first_ascii, mut initials) = (String::new(), String::new(), String::new());
            if self.rng.gen_bool(0.65) {
                let (c, p) = if self.rng.gen_bool(0.4) { self.pick(CN_NEUTRAL) } else { self.pick(gendered) };
                first.push_str(c);
                first_ascii.push_str(p);
                initials.push_str(&p[..1]);
            }
            let (c, p) = self.pick(gendered);
            first.push_str(c);
            first_ascii.push_str(p);
            initials.push_str(&p[..1]);
            Person { country, male, first, last: ln.into(), first_ascii, last_ascii: lp.into(), initials, birthday }
        } else {
            let (males, females, lasts) =
                if country == Country::De { (DE_MALE, DE_FEMALE, DE_LAST) } else { (EN_MALE, EN_FEMALE, EN_LAST) };
            let first = if male { self.pick(males) } else { self.pick(females) };
            let last = lasts[self.front_biased(lasts.len())];
            let first_ascii = ascii_slug(first);
            Person {
                country,
                male,
                first: first.into(),
                last: last.into(),
                initials: first_ascii[..1].to_string(),
                first_ascii,
                last_ascii: ascii_slug(last),
                birthday,
            }
        }
    }

    /// Append a plausible local part for the person: "wang.xiaoming", "xmwang", "sarah.miller", "smiller".
    fn push_email_local(&mut self, out: &mut String, p: &Person, corporate: bool) {
        let (f, l, initials) = (p.first_ascii.as_str(), p.last_ascii.as_str(), p.initials.as_str());
        let yy = p.birthday.year() as u32 % 100;
        let parts: [&str; 3] = if p.country == Country::Cn {
            match self.rng.gen_range(0..if corporate { 4 } else { 5 }) {
                0 => [l, ".", f],
                1 => [l, f, ""],
                2 => [l, initials, ""],
                3 => [f, ".", l],
                _ => {
                    out.push_str(l);
                    out.push_str(f);
                    push_num(out, yy, 2);
                    return;
                }
            }
        } else {
            match self.rng.gen_range(0..if corporate { 3 } else { 5 }) {
                0 => [f, ".", l],
                1 => [initials, l, ""],
                2 => [f, "", ""],
                3 => {
                    out.push_str(f);
                    out.push_str(l);
                    push_num(out, yy, 2);
                    return;
                }
                _ => [f, "_", l],
            }
        };
        for part in parts {
            out.push_str(part);
        }
    }

    /// A unique email: at `company_domain` (most of the time, if given) or at a common provider.
    fn email(&mut self, p: &Person, company_domain: Option<&str>) -> String {
        let corporate = company_domain.is_some() && self.rng.gen_bool(0.8);
        let domain = match company_domain {
            Some(d) if corporate => d,
            _ => self.pick(match p.country {
                Country::Cn => CN_PROVIDERS,
                Country::Us => US_PROVIDERS,
                Country::Gb => GB_PROVIDERS,
                Country::De => DE_PROVIDERS,
            }),
        };
        let mut local = String::with_capacity(24);
        if domain == "qq.com" {
            // QQ mail addresses are the account number.
            local.push(char::from(b'1' + self.rng.gen_range(0..9u8)));
            let n = self.rng.gen_range(5..=9);
            self.digits(&mut local, n);
        } else {
            self.push_email_local(&mut local, p, corporate);
        }
        self.unique_email(&local, domain)
    }

    /// `local@domain`, or with a numeric suffix on the local part when that is taken.
    fn unique_email(&mut self, local: &str, domain: &str) -> String {
        let mut s = String::with_capacity(local.len() + domain.len() + 6);
        s.push_str(local);
        s.push('@');
        s.push_str(domain);
        if self.emails.insert(&s) {
            return s;
        }
        // Random short suffixes first (what people actually get), then a counter that always ends.
        for attempt in 0u32.. {
            let n = match attempt {
                0..=2 => self.rng.gen_range(2..100),
                3..=5 => self.rng.gen_range(100..10_000),
                k => 10_000 + k,
            };
            s.truncate(local.len());
            push_num(&mut s, n, 1);
            s.push('@');
            s.push_str(domain);
            if self.emails.insert(&s) {
                return s;
            }
        }
        unreachable!("the counter suffix eventually finds a free address")
    }

    fn raw_phone(&mut self, country: Country, city: usize, mobile: bool) -> String {
        let mut s = String::with_capacity(20);
        match (country, mobile) {
            (Country::Cn, true) => {
                const PREFIXES: &[&str] = &[
                    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "158",
                    "159", "166", "177", "180", "181", "182", "185", "186", "187", "188", "189", "199",
                ];
                s.push_str("+86 ");
                s.push_str(self.pick(PREFIXES));
                s.push(' ');
                self.digits(&mut s, 4);
                s.push(' ');
                self.digits(&mut s, 4);
            }
            (Country::Cn, false) => {
                s.push_str("+86 ");
                s.push_str(CN_CITIES[city].area);
                s.push(' ');
                s.push(char::from(b'2' + self.rng.gen_range(0..7u8)));
                self.digits(&mut s, 3);
                s.push(' ');
                self.digits(&mut s, 4);
            }
            (Country::Us, _) => {
                // North American numbers have no mobile prefix; both use the city's area code.
                s.push_str("+1 ");
                s.push_str(WEST_CITIES[city].area);
                s.push(' ');
                s.push(char::from(b'2' + self.rng.gen_range(0..8u8)));
                self.digits(&mut s, 2);
                s.push(' ');
                self.digits(&mut s, 4);
            }
            (Country::Gb, true) => {
                s.push_str("+44 7");
                s.push(char::from(b'4' + self.rng.gen_range(0..6u8)));
                self.digits(&mut s, 2);
                s.push(' ');
                self.digits(&mut s, 6);
            }
            (Country::Gb, false) => {
                let area = WEST_CITIES[city].area;
                s.push_str("+44 ");
                s.push_str(area);
                s.push(' ');
                if area.len() == 2 {
                    s.push(self.pick(&['3', '7', '8']));
                    self.digits(&mut s, 3);
                } else {
                    s.push(char::from(b'2' + self.rng.gen_range(0..7u8)));
                    self.digits(&mut s, 2);
                }
                s.push(' ');
                self.digits(&mut s, 4);
            }
            (Country::De, true) => {
                s.push_str("+49 ");
                s.push_str(self.pick(&[
                    "151", "152", "157", "160", "162", "170", "171", "172", "175", "176", "177", "178", "179",
                ]));
                s.push(' ');
                self.digits(&mut s, 4);
                s.push(' ');
                self.digits(&mut s, 4);
            }
            (Country::De, false) => {
                let area = WEST_CITIES[city].area;
                s.push_str("+49 ");
                s.push_str(area);
                s.push(' ');
                s.push(char::from(b'2' + self.rng.gen_range(0..7u8)));
                self.digits(&mut s, if area.len() == 2 { 3 } else { 2 });
                s.push(' ');
                self.digits(&mut s, 4);
            }
        }
        s
    }

    /// A personal phone number no other contact or lead has, so lead de-duplication only finds the
    /// duplicates that were planted on purpose.
    fn unique_phone(&mut self, country: Country, city: usize, mobile: bool) -> String {
        loop {
            let s = self.raw_phone(country, city, mobile);
            if self.phones.insert_digits(&s) {
                return s;
            }
        }
    }

    /// PRC resident identity number: district code, birth date, sequence (odd for men), check digit.
    fn prc_id(&mut self, district_code: &str, birthday: NaiveDate, male: bool) -> String {
        let mut s = String::with_capacity(18);
        loop {
            s.clear();
            s.push_str(district_code);
            push_num(&mut s, birthday.year() as u32, 4);
            push_num(&mut s, birthday.month(), 2);
            push_num(&mut s, birthday.day(), 2);
            push_num(&mut s, self.rng.gen_range(0..500u32) * 2 + u32::from(male), 3);
            s.push(prc_check_char(s.as_bytes()));
            if self.national_ids.insert(&s) {
                return s;
            }
        }
    }

    /// US SSN shape; area never 000, 666 or 9xx, group never 00, serial never 0000.
    fn ssn(&mut self) -> String {
        let mut s = String::with_capacity(11);
        loop {
            let area = self.rng.gen_range(1..900u32);
            if area == 666 {
                continue;
            }
            s.clear();
            push_num(&mut s, area, 3);
            s.push('-');
            push_num(&mut s, self.rng.gen_range(1..100u32), 2);
            s.push('-');
            push_num(&mut s, self.rng.gen_range(1..10_000u32), 4);
            if self.national_ids.insert(&s) {
                return s;
            }
        }
    }

    /// (street, city, region, postal code) somewhere in the city.
    fn address(&mut self, country: Country, city: usize) -> (String, &'static str, &'static str, String) {
        match country {
            Country::Cn => {
                let c = &CN_CITIES[city];
                let (district, _, postal) = self.pick(c.districts);
                let road = self.pick(CN_ROADS);
                let n = self.rng.gen_range(1..=999);
                (format!("{district}{road}{n}号"), c.name, c.region, postal.into())
            }
            _ => {
                let c = &WEST_CITIES[city];
                let prefix = self.pick(c.postal);
                let (street, postal) = match country {
                    Country::Us => {
                        let n = self.rng.gen_range(1..=9_999);
                        let name = self.pick(US_STREETS);
                        let ty = self.pick(US_STREET_TYPES);
                        let zip = format!("{prefix}{:02}", self.rng.gen_range(1..100));
                        if self.rng.gen_bool(0.3) {
                            (format!("{n} {name} {ty}, Suite {}", self.rng.gen_range(1..=30) * 100), zip)
                        } else {
                            (format!("{n} {name} {ty}"), zip)
                        }
                    }
                    Country::Gb => {
                        const LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
                        let n = self.rng.gen_range(1..=250);
                        let name = self.pick(GB_STREETS);
                        let ty = self.pick(GB_STREET_TYPES);
                        let inward = format!(
                            "{}{}{}",
                            self.rng.gen_range(1..10),
                            char::from(self.pick(LETTERS)),
                            char::from(self.pick(LETTERS))
                        );
                        (format!("{n} {name} {ty}"), format!("{prefix} {inward}"))
                    }
                    _ => {
                        let n = self.rng.gen_range(1..=180);
                        let name = self.pick(DE_STREETS);
                        let ty = self.pick(DE_STREET_TYPES);
                        (format!("{name}{ty} {n}"), prefix.into())
                    }
                };
                (street, c.name, c.region, postal)
            }
        }
    }

    fn put_address(&mut self, f: &mut Fields, country: Country, city: usize) {
        let (street, city_name, region, postal) = self.address(country, city);
        f.push(("address_street".into(), street.into()));
        f.push(("address_city".into(), city_name.into()));
        f.push(("address_region".into(), region.into()));
        f.push(("address_postal_code".into(), postal.into()));
        f.push(("address_country".into(), country.code().into()));
    }

    fn tags(&mut self, from: &[&str], max: usize) -> Vec<Value> {
        let n = self.rng.gen_range(0..=max);
        let mut out: Vec<Value> = Vec::with_capacity(n);
        for _ in 0..n {
            let t = self.pick(from);
            if !out.iter().any(|v| v == t) {
                out.push(t.into());
            }
        }
        out
    }

    // --- companies and accounts -----------------------------------------------------------------

    /// A company; with `register` its domain is reserved so that accounts never share a domain.
    fn company(&mut self, country: Country, register: bool) -> Company {
        let city = self.random_city(country);
        for _ in 0..8 {
            let (c, candidates) = self.company_candidate(country, city);
            if !register {
                return Company { domain: candidates[0].clone(), ..c };
            }
            if let Some(d) = candidates.into_iter().find(|d| !self.domains.contains(d)) {
                self.domains.insert(&d);
                return Company { domain: d, ..c };
            }
        }
        // Every natural domain was taken: number one, as real companies do.
        let (c, candidates) = self.company_candidate(country, city);
        let (stem, tld) = candidates[0].split_once('.').expect("domain has a dot");
        let domain =
            (2..).map(|k| format!("{stem}{k}.{tld}")).find(|d| !self.domains.contains(d)).expect("some number is free");
        self.domains.insert(&domain);
        Company { domain, ..c }
    }

    /// A company name and its candidate domains, most natural first.
    fn company_candidate(&mut self, country: Country, city: usize) -> (Company, Vec<String>) {
        if country == Country::Cn {
            let c = &CN_CITIES[city];
            let a = self.rng.gen_range(0..CN_BRAND.len());
            let b = (a + self.rng.gen_range(1..CN_BRAND.len())) % CN_BRAND.len();
            let (az, ap) = CN_BRAND[a];
            let (bz, bp) = CN_BRAND[b];
            let (iz, ie, industry, idom) = self.pick(CN_INDUSTRY);
            let brand = format!("{}{bp}", capitalize(ap));
            let ascii = format!("{ap}{bp}");
            let (name, short, lang) = if self.rng.gen_bool(0.6) {
                let legal = if self.rng.gen_bool(0.8) { "有限公司" } else { "股份有限公司" };
                (format!("{}{az}{bz}{iz}{legal}", c.short), format!("{az}{bz}{iz}"), Lang::Zh)
            } else {
                (format!("{} {brand} {ie} Co., Ltd.", c.pinyin), format!("{brand} {ie}"), Lang::En)
            };
            let candidates = vec![
                format!("{ascii}{idom}.com"),
                format!("{ascii}{idom}.cn"),
                format!("{ascii}-{idom}.com.cn"),
                format!("{ascii}.com.cn"),
            ];
            let co = Company { name, short, domain: String::new(), country, city, industry, lang };
            (co, candidates)
        } else {
            let brand = format!("{}{}", self.pick(WEST_BRAND_A), self.pick(WEST_BRAND_B));
            let (word, industry) = if country == Country::De && self.rng.gen_bool(0.5) {
                self.pick(DE_INDUSTRY)
            } else {
                self.pick(EN_INDUSTRY)
            };
            let legal = self.pick(match country {
                Country::Us => &["Inc.", "Inc.", "LLC", "Corp.", "Group"][..],
                Country::Gb => &["Ltd", "Ltd", "Limited", "plc"][..],
                _ => &["GmbH", "GmbH", "GmbH", "AG", "GmbH & Co. KG", "SE"][..],
            });
            let tld = match country {
                Country::Us => ".com",
                Country::Gb => self.pick(&[".co.uk", ".co.uk", ".com"]),
                _ => ".de",
            };
            let (b, w) = (ascii_slug(&brand), ascii_slug(word));
            let candidates =
                vec![format!("{b}{w}{tld}"), format!("{b}{tld}"), format!("{b}-{w}{tld}"), format!("{b}{w}.io")];
            let lang = if country == Country::De { Lang::De } else { Lang::En };
            let co = Company {
                name: format!("{brand} {word} {legal}"),
                short: format!("{brand} {word}"),
                domain: String::new(),
                country,
                city,
                industry,
                lang,
            };
            (co, candidates)
        }
    }

    fn account_record(&mut self, c: &Company) -> DemoRecord {
        let mut f = self.fields();
        f.push(("name".into(), c.name.clone().into()));
        f.push(("domain".into(), c.domain.clone().into()));
        f.push(("website".into(), format!("https://www.{}", c.domain).into()));
        f.push(("industry".into(), c.industry.into()));
        let employees: u64 = match self.weighted(&[(0u8, 30), (1, 40), (2, 22), (3, 8)]) {
            0 => self.rng.gen_range(8..50),
            1 => self.rng.gen_range(5..50) * 10,
            2 => self.rng.gen_range(5..50) * 100,
            _ => self.rng.gen_range(5..80) * 1_000,
        };
        f.push(("employees".into(), employees.into()));
        // Revenue per employee of 60k-350k USD, in the local currency, rounded to 10 000.
        let revenue = employees as f64 * self.rng.gen_range(60_000.0..350_000.0) * c.country.per_usd();
        f.push(("annual_revenue".into(), ((revenue / 10_000.0).round() * 10_000.0).into()));
        let phone = self.raw_phone(c.country, c.city, false);
        f.push(("phone".into(), phone.into()));
        self.put_address(&mut f, c.country, c.city);
        let mut tags = vec![Value::from(if employees >= 1_000 { "enterprise" } else { "smb" })];
        if self.rng.gen_bool(0.4) {
            tags.push(self.pick(ACCOUNT_TAGS).into());
        }
        f.push(("tags".into(), tags.into()));
        DemoRecord { fields: self.finish(f), refs: Vec::new() }
    }

    // --- contacts and leads ---------------------------------------------------------------------

    fn title(&mut self, lang: Lang) -> (&'static str, &'static str) {
        let total: u32 = DEPARTMENTS.iter().map(|d| d.2).sum();
        let mut r = self.rng.gen_range(0..total);
        let mut dept = &DEPARTMENTS[0];
        for d in DEPARTMENTS {
            if r < d.2 {
                dept = d;
                break;
            }
            r -= d.2;
        }
        let (te, tz) = self.pick(dept.3);
        if lang == Lang::Zh { (tz, dept.1) } else { (te, dept.0) }
    }

    fn plan(&mut self, companies: &[Company]) -> Plan {
        // Most contacts work at an account; a tenth of the accounts ("key accounts") are much larger.
        let account = if !companies.is_empty() && self.rng.gen_bool(0.88) {
            let n = companies.len();
            Some(if self.rng.gen_bool(0.3) { self.rng.gen_range(0..n.div_ceil(10)) } else { self.rng.gen_range(0..n) })
        } else {
            None
        };
        match account {
            Some(a) => {
                let c = &companies[a];
                let city = if self.rng.gen_bool(0.75) { c.city } else { self.random_city(c.country) };
                Plan { account, country: c.country, city }
            }
            None => {
                let country = self.random_country();
                Plan { account, country, city: self.random_city(country) }
            }
        }
    }

    fn contact(&mut self, plan: &Plan, companies: &[Company], stage: &'static str) -> (DemoRecord, ContactMeta) {
        let Plan { account, country, city } = *plan;
        let p = self.person(country);
        let lang = match country {
            Country::Cn => {
                if self.rng.gen_bool(0.97) {
                    Lang::Zh
                } else {
                    Lang::En
                }
            }
            Country::De => {
                if self.rng.gen_bool(0.75) {
                    Lang::De
                } else {
                    Lang::En
                }
            }
            _ => Lang::En,
        };
        let greet = match lang {
            Lang::Zh => format!("{}{}", p.last, p.first),
            Lang::En if country == Country::Cn => capitalize(&p.first_ascii),
            _ => p.first.clone(),
        };
        let mut f = self.fields();
        let email = self.email(&p, account.map(|a| companies[a].domain.as_str()));
        f.push(("email".into(), email.into()));
        let (has_phone, has_mobile) = match country {
            Country::Cn => (self.rng.gen_bool(0.6), true),
            _ => match self.rng.gen_range(0..10) {
                0..=1 => (true, false),
                2..=3 => (false, true),
                _ => (true, true),
            },
        };
        if has_phone {
            let ph = self.unique_phone(country, city, false);
            f.push(("phone".into(), ph.into()));
        }
        if has_mobile {
            let ph = self.unique_phone(country, city, true);
            f.push(("mobile".into(), ph.into()));
        }
        let id = if country == Country::Cn {
            let (_, code, _) = self.pick(CN_CITIES[city].districts);
            self.prc_id(code, p.birthday, p.male)
        } else {
            self.ssn()
        };
        f.push(("national_id".into(), id.into()));
        f.push(("birthday".into(), fmt_date(p.birthday).into()));
        if self.rng.gen_bool(0.9) {
            self.put_address(&mut f, country, city);
        }
        let (title, dept) = self.title(lang);
        f.push(("title".into(), title.into()));
        f.push(("department".into(), dept.into()));
        f.push(("preferred_language".into(), lang.code().into()));
        f.push(("lifecycle_stage".into(), stage.into()));
        let tags = self.tags(CONTACT_TAGS, 3);
        if !tags.is_empty() {
            f.push(("tags".into(), tags.into()));
        }
        if self.rng.gen_bool(0.12) {
            f.push(("notes".into(), self.pick(CONTACT_NOTES[lang.idx()]).into()));
        }
        let refs = account.map(|a| vec![("account".to_string(), DemoRef::Account(a))]).unwrap_or_default();
        f.push(("first_name".into(), p.first.into()));
        f.push(("last_name".into(), p.last.into()));
        let utc_offset = if country == Country::Cn { 8 } else { WEST_CITIES[city].utc_offset };
        (DemoRecord { fields: self.finish(f), refs }, ContactMeta { account, lang, utc_offset, greet })
    }

    fn lead(&mut self, companies: &[Company]) -> DemoRecord {
        // A few leads come from companies that are already accounts; the rest from new companies.
        let existing = !companies.is_empty() && self.rng.gen_bool(0.15);
        let company = if existing {
            let c = &companies[self.rng.gen_range(0..companies.len())];
            Company {
                name: c.name.clone(),
                short: String::new(),
                domain: c.domain.clone(),
                country: c.country,
                city: c.city,
                industry: c.industry,
                lang: c.lang,
            }
        } else {
            let country = self.random_country();
            self.company(country, false)
        };
        let (country, city) = (company.country, company.city);
        let p = self.person(country);
        let mut f = self.fields();
        f.push(("first_name".into(), p.first.clone().into()));
        f.push(("last_name".into(), p.last.clone().into()));
        let email = self.email(&p, Some(&company.domain));
        f.push(("email".into(), email.into()));
        if self.rng.gen_bool(0.8) {
            let mobile = country == Country::Cn || self.rng.gen_bool(0.5);
            let ph = self.unique_phone(country, city, mobile);
            f.push(("phone".into(), ph.into()));
        }
        if self.rng.gen_bool(0.9) {
            f.push(("company_name".into(), company.name.into()));
        }
        let lang = match country {
            Country::Cn => Lang::Zh,
            Country::De => Lang::De,
            _ => Lang::En,
        };
        if self.rng.gen_bool(0.8) {
            let title_lang = if lang == Lang::Zh { Lang::Zh } else { Lang::En };
            f.push(("title".into(), self.title(title_lang).0.into()));
        }
        self.lead_common(&mut f, country, city, lang);
        DemoRecord { fields: self.finish(f), refs: Vec::new() }
    }

    /// A lead for a person who is already a contact: same name, email and phone, as when a customer
    /// fills in a web form again. Nothing marks it; finding these is the de-duplication feature's job.
    fn duplicate_lead(
        &mut self,
        contact: &DemoRecord,
        plan: &Plan,
        meta: &ContactMeta,
        companies: &[Company],
    ) -> DemoRecord {
        let cf = &contact.fields;
        let mut f = self.fields();
        for k in ["first_name", "last_name", "email", "title"] {
            if let Some(v) = cf.get(k) {
                f.push((k.into(), v.clone()));
            }
        }
        if let Some(v) = cf.get("mobile").or_else(|| cf.get("phone")) {
            f.push(("phone".into(), v.clone()));
        }
        if let Some(a) = plan.account {
            f.push(("company_name".into(), companies[a].name.clone().into()));
        }
        let (country, city) = (plan.country, plan.city);
        self.lead_common(&mut f, country, city, meta.lang);
        DemoRecord { fields: self.finish(f), refs: Vec::new() }
    }

    fn lead_common(&mut self, f: &mut Fields, country: Country, city: usize, lang: Lang) {
        let source = self.weighted(&[
            ("web_form", 30),
            ("referral", 12),
            ("event", 15),
            ("cold_call", 8),
            ("partner", 10),
            ("advertising", 12),
            ("api", 5),
            ("import", 8),
        ]);
        let stage =
            self.weighted(&[("new", 30), ("contacted", 28), ("qualified", 20), ("unqualified", 14), ("converted", 8)]);
        // The score has to agree with the stage: qualified leads score high, unqualified ones low.
        let score: u32 = match stage {
            "new" => self.rng.gen_range(0..=45),
            "contacted" => self.rng.gen_range(20..=65),
            "qualified" => self.rng.gen_range(60..=95),
            "unqualified" => self.rng.gen_range(0..=30),
            _ => self.rng.gen_range(70..=100),
        };
        f.push(("source".into(), source.into()));
        f.push(("stage".into(), stage.into()));
        f.push(("score".into(), score.into()));
        f.push(("territory".into(), Self::territory(country, city).into()));
        f.push(("address_country".into(), country.code().into()));
        let mut tags = self.tags(LEAD_TAGS, 2);
        if source == "event" && !tags.iter().any(|t| t == "trade-show") {
            tags.push("trade-show".into());
        }
        if !tags.is_empty() {
            f.push(("tags".into(), tags.into()));
        }
        if self.rng.gen_bool(0.2) {
            f.push(("notes".into(), self.pick(LEAD_NOTES[lang.idx()]).into()));
        }
    }

    // --- deals and activities -------------------------------------------------------------------

    fn deal(&mut self, c: &Company, account: usize, contact: Option<usize>) -> (DemoRecord, DealMeta) {
        let product = self.rng.gen_range(0..PRODUCTS.len());
        let (pe, pz, pd, ptag) = PRODUCTS[product];
        let name = match c.lang {
            Lang::Zh => format!("{}-{pz}", c.short),
            Lang::De => format!("{} – {pd}", c.short),
            Lang::En => format!("{} – {pe}", c.short),
        };
        let stage = self.weighted(&[
            ("prospecting", 20),
            ("qualification", 18),
            ("proposal", 17),
            ("negotiation", 12),
            ("closed_won", 20),
            ("closed_lost", 13),
        ]);
        let probability: u32 = match stage {
            "prospecting" => self.pick(&[5, 10, 10, 15]),
            "qualification" => self.pick(&[20, 25, 30]),
            "proposal" => self.pick(&[40, 50, 50, 60]),
            "negotiation" => self.pick(&[60, 70, 75, 80, 90]),
            "closed_won" => 100,
            _ => 0,
        };
        // Closed deals closed in the six months up to the reference date; open ones close in the six
        // months after it, a few already slightly overdue.
        let offset = match stage {
            "closed_won" | "closed_lost" => -self.rng.gen_range(0..=180),
            _ if self.rng.gen_bool(0.1) => -self.rng.gen_range(1..=30),
            _ => self.rng.gen_range(0..=180),
        };
        let close = self.reference + Duration::days(offset);
        // 5k-500k USD, log-uniform, converted and rounded to the local currency.
        let usd = 10f64.powf(self.rng.gen_range(3.7..5.7));
        let step = if c.country == Country::Cn { 1_000.0 } else { 100.0 };
        let amount = ((usd * c.country.per_usd() / step).round() * step).max(step);

        let mut f = self.fields();
        f.push(("name".into(), name.into()));
        f.push(("amount".into(), amount.into()));
        f.push(("currency".into(), c.country.currency().into()));
        f.push(("stage".into(), stage.into()));
        f.push(("probability".into(), probability.into()));
        f.push(("close_date".into(), fmt_date(close).into()));
        let mut tags = vec![Value::from(ptag)];
        if self.rng.gen_bool(0.3) {
            tags.push(self.pick(DEAL_TAGS).into());
        }
        f.push(("tags".into(), tags.into()));
        let mut refs = vec![("account".to_string(), DemoRef::Account(account))];
        if let Some(ct) = contact {
            refs.push(("contact".to_string(), DemoRef::Contact(ct)));
        }
        (DemoRecord { fields: self.finish(f), refs }, DealMeta { account, stage, product })
    }

    /// A weekday, business-hours moment in the person's time zone during the year before the
    /// reference date, expressed in UTC.
    fn occurred_at(&mut self, utc_offset: i64, quarter_hours: bool) -> NaiveDateTime {
        let mut day = self.reference - Duration::days(self.rng.gen_range(3..=360));
        match day.weekday() {
            Weekday::Sat => day -= Duration::days(1),
            Weekday::Sun => day -= Duration::days(2),
            _ => {}
        }
        let minute = if quarter_hours { self.rng.gen_range(0..4) * 15 } else { self.rng.gen_range(0..12) * 5 };
        let hour = self.rng.gen_range(8..18);
        let local = day.and_time(NaiveTime::from_hms_opt(hour, minute, 0).expect("valid time"));
        local - Duration::hours(utc_offset)
    }

    fn activity(&mut self, contact: usize, meta: &ContactMeta, deals: &[usize], deal_metas: &[DealMeta]) -> DemoRecord {
        let kind = self.weighted(&[(0usize, 25), (1, 30), (2, 15), (3, 15), (4, 15)]);
        let mut refs = vec![("contact".to_string(), DemoRef::Contact(contact))];
        let mut product = self.rng.gen_range(0..PRODUCTS.len());
        if !deals.is_empty() && self.rng.gen_bool(0.6) {
            let d = self.pick(deals);
            product = deal_metas[d].product;
            refs.push(("account".to_string(), DemoRef::Account(deal_metas[d].account)));
            refs.push(("deal".to_string(), DemoRef::Deal(d)));
        } else if let Some(a) = meta.account
            && self.rng.gen_bool(0.5)
        {
            refs.push(("account".to_string(), DemoRef::Account(a)));
        }
        let topic = match meta.lang {
            Lang::Zh => PRODUCTS[product].1,
            Lang::De => PRODUCTS[product].2,
            Lang::En => PRODUCTS[product].0,
        };
        let (subject, body) = self.pick(ACTIVITY_TEXT[meta.lang.idx()][kind]);
        let subject = fill(subject, &meta.greet, topic);
        let body = fill(body, &meta.greet, topic);
        let at = self.occurred_at(meta.utc_offset, kind == 2);

        let mut f = self.fields();
        f.push(("kind".into(), ACTIVITY_KINDS[kind].into()));
        f.push(("subject".into(), subject.into()));
        f.push(("body".into(), body.into()));
        f.push(("occurred_at".into(), fmt_datetime(at).into()));
        match kind {
            0 => {
                let minutes: u32 = self.rng.gen_range(1..=9) * 5;
                f.push(("duration_minutes".into(), minutes.into()));
            }
            2 => {
                let minutes: u32 = self.pick(&[30, 45, 60, 60, 90, 120]);
                f.push(("duration_minutes".into(), minutes.into()));
            }
            4 => {
                let due = at.date() + Duration::days(self.rng.gen_range(1..=14));
                let done = if due < self.reference { self.rng.gen_bool(0.85) } else { self.rng.gen_bool(0.15) };
                f.push(("due_date".into(), fmt_date(due).into()));
                f.push(("done".into(), done.into()));
            }
            _ => {}
        }
        DemoRecord { fields: self.finish(f), refs }
    }
}

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

/// ISO 7064 MOD 11-2 check character over the first 17 digits of a PRC resident id.
fn prc_check_char(first17: &[u8]) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(&d, w)| u32::from(d - b'0') * w).sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}

/// Lower-case ASCII for email addresses: umlauts transliterated, everything else non-alphanumeric dropped.
fn ascii_slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            'ä' | 'Ä' => out.push_str("ae"),
            'ö' | 'Ö' => out.push_str("oe"),
            'ü' | 'Ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            _ => {}
        }
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Append `n` in decimal, zero-padded to `width` digits.
fn push_num(out: &mut String, n: u32, width: usize) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (buf.len() - i)..width {
        out.push('0');
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

fn push_date(out: &mut String, d: NaiveDate) {
    push_num(out, d.year() as u32, 4);
    out.push('-');
    push_num(out, d.month(), 2);
    out.push('-');
    push_num(out, d.day(), 2);
}

fn fmt_date(d: NaiveDate) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, d);
    s
}

/// RFC 3339 in UTC with a `Z` suffix, e.g. "2026-03-04T09:15:00Z".
fn fmt_datetime(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    let mut s = String::with_capacity(20);
    push_date(&mut s, t.date());
    s.push('T');
    push_num(&mut s, t.hour(), 2);
    s.push(':');
    push_num(&mut s, t.minute(), 2);
    s.push(':');
    push_num(&mut s, t.second(), 2);
    s.push('Z');
    s
}

/// Replace `{name}` and `{topic}` in a template.
fn fill(template: &str, name: &str, topic: &str) -> String {
    let mut out = String::with_capacity(template.len() + name.len() + topic.len());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(r) = tail.strip_prefix("{name}") {
            out.push_str(name);
            rest = r;
        } else if let Some(r) = tail.strip_prefix("{topic}") {
            out.push_str(topic);
            rest = r;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field names this module writes, per object, to compare with model/builtin.rs. References
    /// are listed separately: they travel in `refs`, never in `fields`.
    const FIELDS: &[(&str, &[&str], &[&str])] = &[
        (
            "account",
            &[
                "name", "domain", "website", "industry", "employees", "annual_revenue", "phone", "address_street",
                "address_city", "address_region", "address_postal_code", "address_country", "tags",
            ],
            &[],
        ),
        (
            "contact",
            &[
                "first_name", "last_name", "email", "phone", "mobile", "national_id", "birthday", "address_street",
                "address_city", "address_region", "address_postal_code", "address_country", "title", "department",
                "preferred_language", "lifecycle_stage", "tags", "notes",
            ],
            &["account"],
        ),
        (
            "lead",
            &[
                "first_name", "last_name", "email", "phone", "company_name", "title", "source", "stage", "score",
                "territory", "address_country", "tags", "notes",
            ],
            &[],
        ),
        (
            "deal",
            &["name", "amount", "currency", "stage", "probability", "close_date", "tags"],
            &["account", "contact"],
        ),
        (
            "activity",
            &["kind", "subject", "body", "occurred_at", "duration_minutes", "due_date", "done"],
            &["contact", "account", "deal"],
        ),
    ];

    fn all(d: &DemoData) -> [(&'static str, &Vec<DemoRecord>); 5] {
        [
            ("account", &d.accounts),
            ("contact", &d.contacts),
            ("lead", &d.leads),
            ("deal", &d.deals),
            ("activity", &d.activities),
        ]
    }

    fn s<'a>(r: &'a DemoRecord, k: &str) -> &'a str {
        r.fields.get(k).and_then(Value::as_str).unwrap_or_else(|| panic!("{k} missing or not a string"))
    }

    fn valid_email(e: &str) -> bool {
        let Some((local, domain)) = e.split_once('@') else { return false };
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        !local.is_empty()
            && !local.starts_with('.')
            && !local.ends_with('.')
            && local.chars().all(ok)
            && domain.contains('.')
            && domain.chars().all(ok)
            && domain.split('.').all(|p| !p.is_empty())
            && domain.rsplit('.').next().is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_lowercase()))
    }

    fn valid_phone(p: &str) -> bool {
        p.starts_with('+')
            && p[1..].chars().all(|c| c.is_ascii_digit() || c == ' ')
            && !p.contains("  ")
            && (8..=15).contains(&p.chars().filter(char::is_ascii_digit).count())
    }

    #[test]
    fn deterministic_for_a_seed() {
        assert_eq!(generate(42, 500), generate(42, 500));
        assert_ne!(generate(42, 500), generate(43, 500));
    }

    #[test]
    fn counts_for_1000_contacts() {
        let d = generate(7, 1000);
        assert_eq!(d.accounts.len(), 125);
        assert_eq!(d.contacts.len(), 1000);
        assert_eq!(d.leads.len(), 250);
        assert_eq!(d.deals.len(), 333);
        assert!((1800..=2200).contains(&d.activities.len()), "{}", d.activities.len());
        let empty = generate(7, 0);
        assert!(empty.accounts.is_empty() && empty.contacts.is_empty() && empty.activities.is_empty());
        let tiny = generate(7, 3);
        assert_eq!((tiny.accounts.len(), tiny.contacts.len()), (1, 3));
    }

    #[test]
    fn field_names_per_object() {
        let d = generate(1, 2000);
        for (object, records) in all(&d) {
            let (_, fields, refs) = FIELDS.iter().find(|x| x.0 == object).expect("listed");
            for r in records {
                for k in r.fields.keys() {
                    assert!(fields.contains(&k.as_str()), "{object}.{k} is not a field this module may write");
                    assert!(!refs.contains(&k.as_str()), "{object}.{k} is a reference");
                }
                for (k, _) in &r.refs {
                    assert!(refs.contains(&k.as_str()), "{object}.{k} is not a reference field");
                }
            }
        }
    }

    #[test]
    fn national_ids_are_valid() {
        let d = generate(3, 3000);
        let (mut prc, mut ssn) = (0, 0);
        for c in &d.contacts {
            let id = s(c, "national_id");
            if id.len() == 18 {
                prc += 1;
                let b = id.as_bytes();
                assert!(b[..17].iter().all(u8::is_ascii_digit), "{id}");
                assert_eq!(prc_check_char(&b[..17]), char::from(b[17]), "{id}");
                let birthday = s(c, "birthday").replace('-', "");
                assert_eq!(&id[6..14], birthday, "birth date part of {id}");
                assert!(NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").is_ok(), "{id}");
            } else {
                ssn += 1;
                let parts: Vec<&str> = id.split('-').collect();
                assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [3, 2, 4], "{id}");
                assert!(parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())), "{id}");
                assert!(parts[0] != "000" && parts[0] != "666" && !parts[0].starts_with('9'), "{id}");
                assert!(parts[1] != "00" && parts[2] != "0000", "{id}");
            }
        }
        // Known-good id from the published GB 11643 example.
        assert_eq!(prc_check_char(b"11010519491231002"), 'X');
        assert!(prc > 1000 && ssn > 1000, "{prc} {ssn}");
        let unique: HashSet<&str> = d.contacts.iter().map(|c| s(c, "national_id")).collect();
        assert_eq!(unique.len(), d.contacts.len());
    }

    #[test]
    fn emails_unique_and_valid() {
        let d = generate(5, 5000);
        let contact_emails: HashSet<&str> = d.contacts.iter().map(|c| s(c, "email")).collect();
        assert_eq!(contact_emails.len(), d.contacts.len());
        let mut lead_emails = HashSet::new();
        let mut reused = 0;
        for l in &d.leads {
            let e = s(l, "email");
            assert!(lead_emails.insert(e), "lead email {e} repeated");
            if contact_emails.contains(e) {
                reused += 1;
            }
        }
        // About 2% of the leads are planted duplicates of contacts.
        let share = reused as f64 / d.leads.len() as f64;
        assert!((0.01..0.035).contains(&share), "{share}");
        for r in d.contacts.iter().chain(&d.leads) {
            assert!(valid_email(s(r, "email")), "{}", s(r, "email"));
        }
    }

    #[test]
    fn phones_unique_except_planted_duplicates() {
        let d = generate(13, 5000);
        let digits = |p: &str| p.chars().filter(char::is_ascii_digit).collect::<String>();
        let mut contact_phones = HashSet::new();
        for c in &d.contacts {
            for k in ["phone", "mobile"] {
                if let Some(p) = c.fields.get(k).and_then(Value::as_str) {
                    assert!(contact_phones.insert(digits(p)), "{p} repeated");
                }
            }
        }
        let contact_emails: HashSet<&str> = d.contacts.iter().map(|c| s(c, "email")).collect();
        let mut lead_phones = HashSet::new();
        for l in &d.leads {
            if let Some(p) = l.fields.get("phone").and_then(Value::as_str) {
                assert!(lead_phones.insert(digits(p)), "{p} repeated among leads");
                // Only the planted duplicates (same email as a contact) share a contact's phone.
                assert_eq!(contact_phones.contains(&digits(p)), contact_emails.contains(s(l, "email")), "{p}");
            }
        }
    }

    #[test]
    fn refs_point_to_earlier_vectors() {
        let d = generate(9, 2000);
        let order = ["account", "contact", "lead", "deal", "activity"];
        for (object, records) in all(&d) {
            let me = order.iter().position(|o| *o == object).expect("known");
            for r in records {
                for (_, target) in &r.refs {
                    let (pos, idx, len) = match *target {
                        DemoRef::Account(i) => (0, i, d.accounts.len()),
                        DemoRef::Contact(i) => (1, i, d.contacts.len()),
                        DemoRef::Lead(i) => (2, i, d.leads.len()),
                        DemoRef::Deal(i) => (3, i, d.deals.len()),
                    };
                    assert!(pos < me, "{object} refers to a later vector");
                    assert!(idx < len, "{object} ref out of range");
                }
            }
        }
        // Each activity belongs to a contact, and a linked deal's account is the linked account.
        for a in &d.activities {
            assert!(a.refs[0].0 == "contact" && matches!(a.refs[0].1, DemoRef::Contact(_)));
            let acc = a.refs.iter().find_map(|r| if let DemoRef::Account(i) = r.1 { Some(i) } else { None });
            if let Some(deal) = a.refs.iter().find_map(|r| if let DemoRef::Deal(i) = r.1 { Some(i) } else { None }) {
                assert_eq!(Some(d.deals[deal].refs[0].1), acc.map(DemoRef::Account));
            }
        }
    }

    #[test]
    fn values_match_types_and_options() {
        let d = generate(11, 3000);
        let reference = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        let opts = |r: &DemoRecord, k: &str, list: &[&str]| {
            if let Some(v) = r.fields.get(k) {
                let v = v.as_str().expect("enum is a string");
                assert!(list.contains(&v), "{k}={v}");
            }
        };
        let date = |r: &DemoRecord, k: &str| {
            r.fields.get(k).map(|v| {
                let v = v.as_str().expect("date string");
                assert_eq!(v.len(), 10, "{v}");
                NaiveDate::parse_from_str(v, "%Y-%m-%d").expect("date")
            })
        };
        let tags = |r: &DemoRecord| {
            if let Some(v) = r.fields.get("tags") {
                let a = v.as_array().expect("tags array");
                assert!(!a.is_empty());
                assert!(a.iter().all(|t| t.as_str().is_some_and(|t| !t.is_empty() && t.len() <= 32)));
            }
        };
        for a in &d.accounts {
            opts(a, "industry", INDUSTRIES);
            assert!(a.fields["employees"].is_u64());
            assert!(a.fields["annual_revenue"].is_number());
            assert!(valid_phone(s(a, "phone")), "{}", s(a, "phone"));
            assert_eq!(s(a, "website"), format!("https://www.{}", s(a, "domain")));
            tags(a);
        }
        let domains: HashSet<&str> = d.accounts.iter().map(|a| s(a, "domain")).collect();
        assert_eq!(domains.len(), d.accounts.len());
        let mut chinese = 0;
        for c in &d.contacts {
            opts(c, "preferred_language", PREFERRED_LANGUAGES);
            opts(c, "lifecycle_stage", LIFECYCLE_STAGES);
            for k in ["phone", "mobile"] {
                if c.fields.contains_key(k) {
                    assert!(valid_phone(s(c, k)), "{}", s(c, k));
                }
            }
            assert!(c.fields.contains_key("phone") || c.fields.contains_key("mobile"));
            let b = date(c, "birthday").expect("birthday");
            assert!((1955..=2002).contains(&b.year()));
            if s(c, "national_id").len() == 18 {
                chinese += 1;
                assert!(s(c, "mobile").starts_with("+86 1"));
            }
            tags(c);
        }
        assert!((1200..1800).contains(&chinese), "{chinese}");
        for l in &d.leads {
            opts(l, "source", LEAD_SOURCES);
            opts(l, "stage", LEAD_STAGES);
            let score = l.fields["score"].as_u64().expect("integer score");
            assert!(score <= 100);
            if l.fields.contains_key("phone") {
                assert!(valid_phone(s(l, "phone")));
            }
            assert!(!s(l, "territory").is_empty());
            tags(l);
        }
        let lo = reference - Duration::days(184);
        let hi = reference + Duration::days(184);
        for dl in &d.deals {
            opts(dl, "stage", DEAL_STAGES);
            opts(dl, "currency", CURRENCIES);
            let p = dl.fields["probability"].as_u64().expect("integer");
            match s(dl, "stage") {
                "closed_won" => assert_eq!(p, 100),
                "closed_lost" => assert_eq!(p, 0),
                _ => assert!((5..=90).contains(&p)),
            }
            assert!(dl.fields["amount"].as_f64().is_some_and(|a| a > 0.0));
            let close = date(dl, "close_date").expect("close date");
            assert!(lo <= close && close <= hi, "{close}");
            tags(dl);
        }
        let start = reference.and_hms_opt(0, 0, 0).expect("t") - Duration::days(365);
        let end = reference.and_hms_opt(0, 0, 0).expect("t");
        for a in &d.activities {
            opts(a, "kind", ACTIVITY_KINDS);
            let at = s(a, "occurred_at");
            let parsed = chrono::DateTime::parse_from_rfc3339(at).expect("rfc3339").naive_utc();
            assert!(at.ends_with('Z') && at.len() == 20, "{at}");
            assert!(start <= parsed && parsed <= end, "{at}");
            date(a, "due_date");
            if let Some(v) = a.fields.get("duration_minutes") {
                assert!(v.is_u64());
            }
            if let Some(v) = a.fields.get("done") {
                assert!(v.is_boolean());
            }
            assert!(!s(a, "subject").contains('{') && !s(a, "body").contains('{'));
        }
    }

    #[test]
    fn large_run_is_fast() {
        let t = std::time::Instant::now();
        let d = generate(2026, 100_000);
        let took = t.elapsed();
        eprintln!("generate(_, 100_000): {took:?}");
        assert_eq!(d.contacts.len(), 100_000);
        let emails: HashSet<&str> = d.contacts.iter().map(|c| s(c, "email")).collect();
        assert_eq!(emails.len(), 100_000);
        // Release builds take well under a second (most of it building the serde_json maps); the
        // limits leave room for slow or busy CI machines and unoptimised test builds.
        let limit = if cfg!(debug_assertions) { 60 } else { 5 };
        assert!(took.as_secs() < limit, "{took:?}");
    }
}
